using FewShot.Evaluation.Prompts;
using FewShot.Evaluation.TaskFiles;

namespace FewShot.Evaluation.Tests.Tasks;

public class PromptTests
{
    // One line per example (reversed words, "ecnatsni =" -> " instance"), so that lines count demonstrations.
    static EvalTask Task(int documents, string? description = "Add.")
    {
        var json = $$$"""
            {"name": "add", {{{(description is null ? "" : $"\"description\": \"{description}\",")}}}
             "splits": {"test": {"generator": "RW", "seed": 3, "count": {{{documents}}}}},
             "query_template": "{context}", "answer_template": "{completion}", "answer_delimiter": "",
             "example_separator": "\n", "output_type": "loglikelihood"}
            """;
        return EvalTask.Load(TaskConfig.Parse(json, "test.json", null));
    }

    static int Chars(string s) => s.Length;

    [Fact]
    public void APromptIsDescriptionThenKDemonstrationsThenTheQueryNeverItself()
    {
        var task = Task(5);
        var builder = new PromptBuilder(task, Chars, 10_000);
        for (var i = 0; i < task.Eval.Count; i++)
        {
            var prompt = builder.Build(task.Eval[i], i, shots: 4, withDescription: true, seed: 1);
            var lines = prompt.Context.Split('\n');
            Assert.Equal("Add.", lines[0]);
            Assert.Equal("", lines[1]);
            Assert.Equal(task.Eval[i].Query, lines[^1]);
            var demos = lines[2..^1];
            Assert.Equal(4, demos.Length);
            Assert.DoesNotContain(task.Eval[i].Demonstration(""), demos); // the other four, never the query
            Assert.Equal(4, demos.Distinct().Count());
            Assert.Equal(4, prompt.EffectiveShots);
        }
        var zero = builder.Build(task.Eval[0], 0, 0, withDescription: false, seed: 1);
        Assert.Equal(task.Eval[0].Query, zero.Context);
        Assert.Equal(builder.Build(task.Eval[0], 0, 2, true, seed: 9), builder.Build(task.Eval[0], 0, 2, true, seed: 9));
    }

    /// <summary>
    /// The built-in synthetic tasks are laid out as the built-in corpus writes their documents (FewShot.Data's
    /// SyntheticDocuments): the description, then the worked examples, each followed by the generator's separator (a
    /// newline; nothing for arithmetic, whose examples carry their own blank lines). Another separator after the
    /// description would put every zero-shot query where training never had one.
    /// </summary>
    [Fact]
    public void BuiltInSyntheticPromptsAreLaidOutAsTheCorpusDocuments()
    {
        foreach (var config in BuiltInTasks.Resolve("synthetic"))
        {
            var separator = FewShot.Tasks.SyntheticTasks.Get(config.Name).ExampleSeparator;
            Assert.Equal(separator, config.ExampleSeparator);
            Assert.Equal(separator, config.DescriptionSeparator);
            var task = EvalTask.Load(config with { Splits = config.Splits.ToDictionary(s => s.Key, s => s.Value with { Count = 20 }) });
            var prompt = new PromptBuilder(task, Chars, 10_000).Build(task.Eval[0], 0, 3, withDescription: true, seed: 1);
            var description = config.Description!;
            Assert.StartsWith(description + separator, prompt.Context);
            Assert.EndsWith(task.Eval[0].Query, prompt.Context);
            var rest = prompt.Context[(description.Length + separator.Length)..^task.Eval[0].Query.Length];
            for (var k = 0; k < 3; k++)   // three demonstrations of the split, each with its separator
            {
                var demo = task.Demos.Select(d => d.Demonstration(config.AnswerDelimiter) + separator).First(rest.StartsWith);
                rest = rest[demo.Length..];
            }
            Assert.Equal("", rest);
        }
    }

    [Fact]
    public void KLargerThanThePoolIsAClearError()
    {
        var task = Task(5);
        var e = Assert.Throws<ArgumentException>(() => new PromptBuilder(task, Chars, 10_000).Build(task.Eval[0], 0, 5, true, 1));
        Assert.Contains("5 demonstrations asked for but split 'test' offers only 4", e.Message);
    }

    [Fact]
    public void DemonstrationsThatDoNotFitAreDroppedAndTheEffectiveKReported()
    {
        var task = Task(20, description: null);
        var query = task.Eval[0];
        var one = query.Demonstration("").Length + 1; // roughly one demonstration per this many characters
        var budget = query.Query.Length + 3 * one + 10;
        var prompt = new PromptBuilder(task, Chars, budget).Build(query, 0, 10, false, 1);
        Assert.InRange(prompt.EffectiveShots, 1, 9);
        Assert.Equal(10, prompt.RequestedShots);
        Assert.True(prompt.Context.Length + query.Answer.Length <= budget);
        Assert.Equal(prompt.EffectiveShots + 1, prompt.Context.Split('\n').Length);
    }

    [Fact]
    public void AContextThatCannotHoldEvenTheZeroShotPromptIsAClearError()
    {
        var task = Task(3);
        var e = Assert.Throws<ArgumentException>(() => new PromptBuilder(task, Chars, 8).Build(task.Eval[0], 0, 0, false, 1));
        Assert.Contains("cannot hold even the zero-shot prompt", e.Message);
        Assert.Contains("(8 tokens)", e.Message);
    }
}
