using FewShot.Data.Builtin;

namespace FewShot.Data.Tests;

public class SyntheticTaskTests
{
    [Theory]
    [InlineData("2D+", @"^Q: What is (\d{1,2}) plus (\d{1,2})\? A:$")]
    [InlineData("3D-", @"^Q: What is (\d{1,3}) minus (\d{1,3})\? A:$")]
    [InlineData("5D+", @"^Q: What is (\d{1,5}) plus (\d{1,5})\? A:$")]
    [InlineData("2Dx", @"^Q: What is (\d{1,2}) times (\d{1,2})\? A:$")]
    public void ArithmeticMatchesThePapersFormatAndIsCorrect(string task, string pattern)
    {
        var examples = ArithmeticTasks.Generate(task, 2000, seed: 1);
        Assert.Equal(2000, examples.Count);
        foreach (var e in examples)
        {
            var m = System.Text.RegularExpressions.Regex.Match(e.Context, pattern);
            Assert.True(m.Success, e.Context);
            long a = long.Parse(m.Groups[1].Value), b = long.Parse(m.Groups[2].Value);
            var expected = task[2] switch { '+' => a + b, '-' => a - b, _ => a * b };
            Assert.Equal($" {expected}", e.Completion);
        }
        Assert.Contains(examples, e => task != "3D-" || e.Completion.StartsWith(" -"));
        Assert.Equal(examples, ArithmeticTasks.Generate(task, 2000, seed: 1));
    }

    [Fact]
    public void OneDigitCompositeEvaluatesTheParenthesisedExpression()
    {
        foreach (var e in ArithmeticTasks.Generate("1DC", 500, seed: 2))
        {
            var m = System.Text.RegularExpressions.Regex.Match(e.Context, @"^Q: What is (\d)([-+*])\((\d)([-+*])(\d)\)\? A:$");
            Assert.True(m.Success, e.Context);
            static long Op(char op, long x, long y) => op switch { '+' => x + y, '-' => x - y, _ => x * y };
            var inner = Op(m.Groups[4].Value[0], int.Parse(m.Groups[3].Value), int.Parse(m.Groups[5].Value));
            Assert.Equal($" {Op(m.Groups[2].Value[0], int.Parse(m.Groups[1].Value), inner)}", e.Completion);
        }
    }

    [Fact]
    public void ThePapersQuotedExampleHasThisExactText() =>
        Assert.Equal("Q: What is 48 plus 76? A: 124", new TaskExample("2D+", "Q: What is 48 plus 76? A:", " 124").Text);

    [Fact]
    public void ScramblesKeepTheirLettersAndThePapersShape()
    {
        var random = new Random(3);
        const string word = "inevitably";
        var cl = WordScramble.Scramble("CL", word, random);
        Assert.Contains(word, cl + cl);
        Assert.NotEqual(word, cl);
        var a1 = WordScramble.Scramble("A1", "corruption", random);
        Assert.Equal(('c', 'n'), (a1[0], a1[^1]));
        Assert.Equal("corruption".Order(), a1.Order());
        var a2 = WordScramble.Scramble("A2", "opponent", random);
        Assert.Equal(("op", "nt"), (a2[..2], a2[^2..]));
        Assert.Equal("opponent".Order(), a2.Order());
        var ri = WordScramble.Scramble("RI", "succession", random);
        Assert.Equal(19, ri.Length);
        Assert.Equal("succession", new string([.. ri.Where((_, i) => i % 2 == 0)]));
        Assert.Equal("stcejbo", WordScramble.Scramble("RW", "objects", random));
        var e = WordScramble.One("RW", "casino", random);
        Assert.Equal("onisac = casino", e.Text);
    }
}
