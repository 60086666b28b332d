using System.Text.Json;
using FewShot.Evaluation.Running;
using FewShot.Evaluation.TaskFiles;

namespace FewShot.Evaluation.Tests.Tasks;

/// <summary>`--tasks two_digit_addition.jsonl`: GPT-3's released task files evaluate as they are.</summary>
public class CompletionsFileTests
{
    static string Write(TempFolder folder, string name, IEnumerable<string> lines)
    {
        var path = folder.File(name);
        File.WriteAllLines(path, lines);
        return path;
    }

    static IEnumerable<string> Addition(int count) => Enumerable.Range(0, count).Select(i =>
        JsonSerializer.Serialize(new { context = $"Q: What is {10 + i} plus {20 + 2 * i}?\nA:", completion = $" {30 + 3 * i}" }));

    [Fact]
    public void AJsonlFileOfContextAndCompletionIsATaskScoredByGreedyMatchWithDemonstrationsFromTheSameFile()
    {
        using var folder = new TempFolder();
        var path = Write(folder, "two_digit_addition.jsonl", Addition(12));
        var config = Assert.Single(BuiltInTasks.Resolve(path));
        Assert.Equal("two_digit_addition", config.Name);
        Assert.Equal(OutputType.LogLikelihood, config.OutputType);
        Assert.Equal(["acc", "loglikelihood"], config.Metrics);
        var task = EvalTask.Load(config);
        Assert.Equal(12, task.Eval.Count);
        Assert.Equal("Q: What is 11 plus 22?\nA:", task.Eval[1].Query);
        Assert.Equal(" 33", task.Eval[1].Answer);

        var report = new EvalRunner(TestSupport.TinyModel(context: 512), new EvalOptions { Shots = [0, 3], BagOfWords = false }).Run([task]);
        Assert.Equal([0, 3], report.Results.Where(r => r.Metric == "acc").Select(r => r.Shots).Distinct().Order());
        Assert.All(report.Results, r => Assert.Equal(12, r.N));
        // Three demonstrations, each "context + completion" on its own line, never the query itself, then the query.
        var prompt = report.Examples.First(e => e.Shots == 3 && e.Index == 1).Prompt;
        Assert.EndsWith("\nQ: What is 11 plus 22?\nA:", prompt);
        Assert.Equal(3, prompt.Split("plus").Length - 2);
        Assert.DoesNotContain("11 plus 22?\nA: 33", prompt);
    }

    [Fact]
    public void ContextsThatBringTheirOwnBlankLinesAreJoinedWithNothingAsTheReleasedArithmeticFilesExpect()
    {
        using var folder = new TempFolder();
        var path = Write(folder, "two_digit_subtraction.jsonl", Enumerable.Range(0, 5).Select(i =>
            JsonSerializer.Serialize(new { context = $"\n\nQ: What is {50 + i} minus {10 + i}?\n\nA:", completion = " 40" })));
        var config = Assert.Single(BuiltInTasks.Resolve(path));
        Assert.Equal("", config.ExampleSeparator);
        var report = new EvalRunner(TestSupport.TinyModel(context: 512), new EvalOptions { Shots = [1], BagOfWords = false }).Run([EvalTask.Load(config)]);
        var prompt = report.Examples.First(e => e.Index == 0).Prompt;
        Assert.Matches(@"^\n\nQ: What is 5\d minus 1\d\?\n\nA: 40\n\nQ: What is 50 minus 10\?\n\nA:$", prompt);
    }

    [Fact]
    public void ALineWithoutACompletionIsAnErrorNamingTheFileAndLine()
    {
        using var folder = new TempFolder();
        var path = Write(folder, "broken.jsonl", [.. Addition(2), "{\"context\": \"Q: What is 1 plus 1?\\nA:\"}"]);
        var error = Assert.ThrowsAny<Exception>(() => EvalTask.Load(Assert.Single(BuiltInTasks.Resolve(path))));
        Assert.Contains("broken.jsonl:3", error.Message);
        Assert.Contains("completion", error.Message);
    }

    [Fact]
    public void AMissingJsonlFileIsNamed()
    {
        var error = Assert.Throws<FileNotFoundException>(() => BuiltInTasks.Resolve("/nowhere/tasks.jsonl"));
        Assert.Contains("/nowhere/tasks.jsonl", error.Message);
    }
}
