using FewShot.Tasks;
using FewShot.Tasks.DotNetDocs;

namespace FewShot.Evaluation.Tests.Tasks;

public class DotNetQuestionTests
{
    [Fact]
    public void TheSdkDocumentationYieldsTypeSummariesSplitByHeldOutNamespaces()
    {
        var all = DotNetTypeDocs.Installed;
        Assert.True(all.Count > 1000, $"{all.Count} types");
        var bitArray = Assert.Single(all, t => t.FullName == "System.Collections.BitArray");
        Assert.StartsWith("Manages a compact array of bit values", bitArray.Summary);
        Assert.DoesNotContain("<", bitArray.Summary);

        var heldOut = DotNetTypeDocs.Split(NamespaceSplit.HeldOut);
        var inDistribution = DotNetTypeDocs.Split(NamespaceSplit.InDistribution);
        Assert.True(heldOut.Count > 100);
        Assert.All(heldOut, t => Assert.True(DotNetTypeDocs.IsHeldOut(t.Namespace)));
        Assert.All(inDistribution, t => Assert.False(DotNetTypeDocs.IsHeldOut(t.Namespace)));
        Assert.Equal(all.Count, heldOut.Count + inDistribution.Count);
        Assert.False(DotNetTypeDocs.IsHeldOut("System.Networking")); // prefix match is by namespace, not by string
    }

    [Fact]
    public void MultipleChoiceQuestionsHaveFourDistinctChoicesAndTheRightAnswer()
    {
        var task = SyntheticTasks.DotNet[0];
        var types = DotNetTypeDocs.Split(NamespaceSplit.InDistribution).ToLookup(t => t.Summary, t => t.Name);
        foreach (var q in task.GenerateChoices(200, seed: 4))
        {
            Assert.Equal(4, q.Choices.Count);
            Assert.Equal(4, q.Choices.Distinct().Count());
            Assert.StartsWith("Q: Which .NET type is this? ", q.Context);
            Assert.EndsWith(" A:", q.Context);
            var summary = q.Context["Q: Which .NET type is this? ".Length..^" A:".Length];
            Assert.Contains(q.Choices[q.Answer][1..], types[summary]);
        }
        Assert.Equal(task.Generate(30, 1), task.Generate(30, 1));
    }
}
