using System.Text.RegularExpressions;
using FewShot.Tasks;
using FewShot.Tasks.Arithmetic;

namespace FewShot.Evaluation.Tests.Tasks;

public class ArithmeticFormatTests
{
    [Fact]
    public void ThePapersQuotedExamplesComeOutExactly()
    {
        Assert.Equal("Q: What is 48 plus 76? A: 124", ArithmeticTask.Binary(48, 76, ArithmeticOperation.Plus).Text);
        Assert.Equal("Q: What is 34 minus 53? A: -19", ArithmeticTask.Binary(34, 53, ArithmeticOperation.Minus).Text);
        Assert.Equal("Q: What is 24 times 42? A: 1008", ArithmeticTask.Binary(24, 42, ArithmeticOperation.Times).Text);
        Assert.Equal("Q: What is 6+(4*8)? A: 38", ArithmeticTask.Composite(6, 4, 8, '+', '*').Text);
        var example = ArithmeticTask.Binary(48, 76, ArithmeticOperation.Plus);
        Assert.Equal("Q: What is 48 plus 76? A:", example.Context);
        Assert.Equal(" 124", example.Completion);
    }

    [Fact]
    public void TheTenTasksHaveThePapersNamesAndCounts()
    {
        Assert.Equal(["2D+", "2D-", "3D+", "3D-", "4D+", "4D-", "5D+", "5D-", "2Dx", "1DC"], SyntheticTasks.Arithmetic.Select(t => t.Name));
        Assert.All(SyntheticTasks.Arithmetic, t => Assert.Equal(2000, t.DefaultCount));
    }

    [Theory]
    [InlineData("2D+", 2, "plus")]
    [InlineData("3D-", 3, "minus")]
    [InlineData("5D+", 5, "plus")]
    [InlineData("5D-", 5, "minus")]
    [InlineData("2Dx", 2, "times")]
    public void BinaryTasksDrawOperandsFromTheirRangeAndAnswerCorrectly(string name, int digits, string word)
    {
        var examples = SyntheticTasks.Get(name).Generate(2000, seed: 5).ToList();
        Assert.Equal(2000, examples.Count);
        var limit = (long)Math.Pow(10, digits);
        var pattern = new Regex(@"^Q: What is (\d+) (plus|minus|times) (\d+)\? A:$");
        var largest = 0L;
        foreach (var e in examples)
        {
            var m = pattern.Match(e.Context);
            Assert.True(m.Success, e.Context);
            Assert.Equal(word, m.Groups[2].Value);
            var (a, b) = (long.Parse(m.Groups[1].Value), long.Parse(m.Groups[3].Value));
            Assert.InRange(a, 0, limit - 1);
            Assert.InRange(b, 0, limit - 1);
            largest = Math.Max(largest, Math.Max(a, b));
            var expected = word switch { "plus" => a + b, "minus" => a - b, _ => a * b };
            Assert.Equal(" " + expected, e.Completion);
        }
        Assert.True(largest >= limit / 10, $"operands should reach {digits} digits, largest was {largest}");
    }

    [Fact]
    public void CompositeUsesThreeOneDigitNumbersWithTheLastTwoInParentheses()
    {
        var pattern = new Regex(@"^Q: What is (\d)([-+*])\((\d)([-+*])(\d)\)\? A:$");
        var operators = new HashSet<string>();
        foreach (var e in SyntheticTasks.Get("1DC").Generate(2000, seed: 3))
        {
            var m = pattern.Match(e.Context);
            Assert.True(m.Success, e.Context);
            long Apply(string op, long x, long y) => op switch { "+" => x + y, "-" => x - y, _ => x * y };
            var inner = Apply(m.Groups[4].Value, long.Parse(m.Groups[3].Value), long.Parse(m.Groups[5].Value));
            Assert.Equal(" " + Apply(m.Groups[2].Value, long.Parse(m.Groups[1].Value), inner), e.Completion);
            operators.Add(m.Groups[2].Value);
        }
        Assert.Equal(3, operators.Count);
    }

    [Fact]
    public void GenerationIsDeterministicFromTheSeed()
    {
        var task = SyntheticTasks.Get("3D+");
        Assert.Equal(task.Generate(50, 11).ToList(), task.Generate(50, 11).ToList());
        Assert.NotEqual(task.Generate(50, 11).ToList(), task.Generate(50, 12).ToList());
    }
}
