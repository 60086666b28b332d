using FewShot.Evaluation.TaskFiles;
using FewShot.Tasks;
using FewShot.Tasks.WordLists;

namespace FewShot.Evaluation.Tests.Tasks;

public class WordListFormatTests
{
    static readonly string[] Fixed = ["apple", "river", "stone", "cloud", "table"];

    [Theory]
    [InlineData(WordListRule.First, "apple")]
    [InlineData(WordListRule.Last, "table")]
    [InlineData(WordListRule.Reverse, "table cloud stone river apple")]
    [InlineData(WordListRule.Rest, "river stone cloud table")]
    [InlineData(WordListRule.Copy, "apple river stone cloud table")]
    [InlineData(WordListRule.Swap, "river apple stone cloud table")]
    public void EachRuleGivesItsAnswerOnAFixedList(WordListRule rule, string answer)
    {
        Assert.Equal(answer, string.Join(' ', WordListRules.Apply(rule, Fixed)));
        var example = WordListRuleTask.Example(Fixed, WordListRules.Apply(rule, Fixed));
        Assert.Equal("Q: apple river stone cloud table\nA:", example.Context);
        Assert.Equal(Fixed, WordListRuleTask.Words(example.Context));
        Assert.Equal(" " + answer, example.Completion);
    }

    [Fact]
    public void TheSixRulesShareOneGenericDescription()
    {
        Assert.Equal(["WL-first", "WL-last", "WL-reverse", "WL-rest", "WL-copy", "WL-swap"], SyntheticTasks.WordLists.Select(t => t.Name));
        Assert.All(SyntheticTasks.WordLists, t => Assert.Equal(WordListRuleTask.GenericDescription, t.Description));
        Assert.All(SyntheticTasks.WordLists, t => Assert.Equal(2000, t.DefaultCount));
        Assert.Subset(SyntheticTasks.All.ToHashSet(), SyntheticTasks.WordLists.ToHashSet());
        Assert.Equal("WL-reverse", SyntheticTasks.Get("wl-reverse").Name);
    }

    [Theory]
    [InlineData("WL-first")]
    [InlineData("WL-last")]
    [InlineData("WL-reverse")]
    [InlineData("WL-rest")]
    [InlineData("WL-copy")]
    [InlineData("WL-swap")]
    public void EveryGeneratedExampleIsItsRuleAppliedToDistinctShortWords(string name)
    {
        var task = (WordListRuleTask)SyntheticTasks.Get(name);
        var words = WordListRuleTask.ShortWords.ToHashSet();
        Assert.Equal(WordListRuleTask.CommonWords, words.Count);
        Assert.Contains("stream", words);
        Assert.DoesNotContain("svadd", words);
        var examples = task.Generate(2000, seed: 9).ToList();
        Assert.Equal(2000, examples.Count);
        foreach (var e in examples)
        {
            Assert.Matches("^Q:( [a-z]{5,7}){3,5}\nA:$", e.Context);
            var list = WordListRuleTask.Words(e.Context);
            Assert.Equal(list.Length, list.Distinct().Count());
            Assert.All(list, w => Assert.Contains(w, words));
            Assert.Equal(" " + string.Join(' ', WordListRules.Apply(task.Rule, list)), e.Completion);
        }
        Assert.Equal([3, 4, 5], examples.Select(e => WordListRuleTask.Words(e.Context).Length).Distinct().Order());
        Assert.Equal(task.Generate(20, 9), examples.Take(20));           // same seed, same examples
        Assert.NotEqual(task.Generate(20, 10), examples.Take(20));
    }

    [Fact]
    public void OnEveryListTheSixRulesGiveSixDifferentAnswersSoZeroShotIsAmbiguous()
    {
        foreach (var e in SyntheticTasks.WordLists[0].Generate(500, seed: 4))
        {
            var list = WordListRuleTask.Words(e.Context);
            var answers = Enum.GetValues<WordListRule>().Select(r => string.Join(' ', WordListRules.Apply(r, list))).ToList();
            Assert.Equal(answers.Count, answers.Distinct().Count());
        }
    }

    [Fact]
    public void TheEvaluationResolvesTheGroupAndEveryRuleByName()
    {
        Assert.Equal(SyntheticTasks.WordLists.Select(t => t.Name), BuiltInTasks.Resolve("wordlists").Select(c => c.Name));
        Assert.Contains(BuiltInTasks.Resolve("synthetic"), c => c.Name == "WL-swap");
        var reverse = EvalTask.Load(BuiltInTasks.Resolve("wl-reverse")[0]);
        Assert.Equal(WordListRuleTask.GenericDescription, reverse.Config.Description);
        Assert.Equal(2000, reverse.Eval.Count);
        Assert.Empty(reverse.Eval.Select(d => d.Query).Intersect(reverse.Demos.Select(d => d.Query))); // seeds 1 and 2 draw different lists
        Assert.StartsWith("Q: ", reverse.Eval[0].Query);
        Assert.EndsWith("\nA:", reverse.Eval[0].Query);
        var e = Assert.Throws<ArgumentException>(() => BuiltInTasks.Resolve("WL-middle"));
        Assert.Contains("wordlists", e.Message);
    }
}
