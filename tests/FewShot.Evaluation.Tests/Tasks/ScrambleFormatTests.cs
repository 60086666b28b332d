using System.Text.RegularExpressions;
using FewShot.Tasks;
using FewShot.Tasks.Scrambling;

namespace FewShot.Evaluation.Tests.Tasks;

public class ScrambleFormatTests
{
    static bool IsAnagramKeeping(string scrambled, string word, int keep) =>
        scrambled.Length == word.Length && scrambled[..keep] == word[..keep] && scrambled[^keep..] == word[^keep..]
        && scrambled.Order().SequenceEqual(word.Order());

    [Fact]
    public void ThePapersQuotedExamplesAreWhatEachScrambleDoes()
    {
        Assert.Equal("lyinevitab", Scrambles.Cycle("inevitably", 8));
        Assert.Equal("stcejbo", Scrambles.Reverse("objects"));
        Assert.True(IsAnagramKeeping("criroptuon", "corruption", 1));
        Assert.True(IsAnagramKeeping("opoepnnt", "opponent", 2));
        const string inserted = "s.u!c/c!e.s s i/o/n";
        Assert.Equal("succession", string.Concat(inserted.Where(char.IsLetter)));
        Assert.All(inserted.Where((_, i) => i % 2 == 1), c => Assert.Contains(c, Scrambles.InsertionCharacters));
        Assert.Equal("lyinevitab =", WordScrambleTask.Example("lyinevitab", "inevitably").Context);
        Assert.Equal(" inevitably", WordScrambleTask.Example("lyinevitab", "inevitably").Completion);
    }

    [Fact]
    public void TheWordListHoldsThousandsOfLowerCaseWordsOfFiveToFourteenLetters()
    {
        Assert.True(EnglishWords.All.Count > 3000, $"{EnglishWords.All.Count} words");
        Assert.All(EnglishWords.All, w => Assert.Matches("^[a-z]{5,14}$", w));
        Assert.Contains("collection", EnglishWords.All);
    }

    [Theory]
    [InlineData("CL")]
    [InlineData("A1")]
    [InlineData("A2")]
    [InlineData("RI")]
    [InlineData("RW")]
    public void EveryGeneratedExampleIsAValidScrambleOfAListedWord(string name)
    {
        var task = (WordScrambleTask)SyntheticTasks.Get(name);
        Assert.Equal(10_000, task.DefaultCount);
        var words = EnglishWords.All.ToHashSet();
        var examples = task.Generate(10_000, seed: 9).ToList();
        Assert.Equal(10_000, examples.Count);
        var changed = 0;
        foreach (var e in examples)
        {
            Assert.EndsWith(" =", e.Context);
            Assert.Matches("^ [a-z]{5,14}$", e.Completion);
            var word = e.Completion[1..];
            var scrambled = e.Context[..^2];
            Assert.Contains(word, words);
            if (scrambled != word) changed++;
            else if (task.Kind is Scramble.AnagramKeepOne or Scramble.AnagramKeepTwo)
                {
                var keep = task.Kind == Scramble.AnagramKeepOne ? 1 : 2;
                Assert.True(word.Length - 2 * keep <= 3 || word[keep..^keep].Distinct().Count() < 2, $"'{word}' left unscrambled");
            }
            switch (task.Kind)
            {
                case Scramble.CycleLetters:
                    Assert.Contains(scrambled, Enumerable.Range(1, word.Length - 1).Select(k => Scrambles.Cycle(word, k)));
                    break;
                case Scramble.AnagramKeepOne: Assert.True(IsAnagramKeeping(scrambled, word, 1), scrambled); break;
                case Scramble.AnagramKeepTwo: Assert.True(IsAnagramKeeping(scrambled, word, 2), scrambled); break;
                case Scramble.RandomInsertion:
                    Assert.Equal(2 * word.Length - 1, scrambled.Length);
                    Assert.Equal(word, string.Concat(scrambled.Where((_, i) => i % 2 == 0)));
                    Assert.All(scrambled.Where((_, i) => i % 2 == 1), c => Assert.Contains(c, Scrambles.InsertionCharacters));
                    break;
                default: Assert.Equal(Scrambles.Reverse(word), scrambled); break;
            }
        }
        Assert.True(changed > (task.Kind == Scramble.AnagramKeepTwo ? 8_000 : 9_900), $"only {changed} of 10,000 scrambles differ from their word");
        Assert.Equal(task.Generate(20, 9), examples.Take(20));
    }
}
