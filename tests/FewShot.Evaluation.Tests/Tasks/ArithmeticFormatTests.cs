using FewShot.Evaluation.TaskFiles;
using FewShot.Evaluation.Prompts;
using System.Text.RegularExpressions;
using FewShot.Tasks;
using FewShot.Tasks.Arithmetic;

namespace FewShot.Evaluation.Tests.Tasks;

public class ArithmeticFormatTests
{
    [Fact]
    public void ThePapersQuotedExamplesComeOutExactly()
    {
        // The paper prints "Q: What is 48 plus 76? A: 124"; its released task files lay the question out with blank lines.
        Assert.Equal("\n\nQ: What is 48 plus 76?\n\nA: 124", ArithmeticTask.Binary(48, 76, ArithmeticOperation.Plus).Text);
        Assert.Equal("\n\nQ: What is 34 minus 53?\n\nA: -19", ArithmeticTask.Binary(34, 53, ArithmeticOperation.Minus).Text);
        Assert.Equal("\n\nQ: What is 24 times 42?\n\nA: 1008", ArithmeticTask.Binary(24, 42, ArithmeticOperation.Times).Text);
        Assert.Equal("\n\nQ: What is 6+(4*8)?\n\nA: 38", ArithmeticTask.Composite(6, 4, 8, '+', '*').Text);
        var example = ArithmeticTask.Binary(77, 40, ArithmeticOperation.Plus);
        Assert.Equal("\n\nQ: What is 77 plus 40?\n\nA:", example.Context);
        Assert.Equal(" 117", example.Completion);
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
        var pattern = new Regex(@"^\n\nQ: What is (\d+) (plus|minus|times) (\d+)\?\n\nA:$");
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
        var pattern = new Regex(@"^\n\nQ: What is (\d)([-+*])\((\d)([-+*])(\d)\)\?\n\nA:$");
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

    /// <summary>Each of the paper's fifteen synthetic tasks, as the built-in task file renders a two-shot prompt with its description.</summary>
    [Theory]
    [InlineData("2D+", @"^Answer each question about 2-digit addition with a number\.(\n\nQ: What is \d+ plus \d+\?\n\nA: \d+){2}\n\nQ: What is \d+ plus \d+\?\n\nA:$")]
    [InlineData("2D-", @"^Answer each question about 2-digit subtraction with a number\.(\n\nQ: What is \d+ minus \d+\?\n\nA: -?\d+){2}\n\nQ: What is \d+ minus \d+\?\n\nA:$")]
    [InlineData("3D+", @"^Answer each question about 3-digit addition with a number\.(\n\nQ: What is \d+ plus \d+\?\n\nA: \d+){2}\n\nQ: What is \d+ plus \d+\?\n\nA:$")]
    [InlineData("3D-", @"^Answer each question about 3-digit subtraction with a number\.(\n\nQ: What is \d+ minus \d+\?\n\nA: -?\d+){2}\n\nQ: What is \d+ minus \d+\?\n\nA:$")]
    [InlineData("4D+", @"^Answer each question about 4-digit addition with a number\.(\n\nQ: What is \d+ plus \d+\?\n\nA: \d+){2}\n\nQ: What is \d+ plus \d+\?\n\nA:$")]
    [InlineData("4D-", @"^Answer each question about 4-digit subtraction with a number\.(\n\nQ: What is \d+ minus \d+\?\n\nA: -?\d+){2}\n\nQ: What is \d+ minus \d+\?\n\nA:$")]
    [InlineData("5D+", @"^Answer each question about 5-digit addition with a number\.(\n\nQ: What is \d+ plus \d+\?\n\nA: \d+){2}\n\nQ: What is \d+ plus \d+\?\n\nA:$")]
    [InlineData("5D-", @"^Answer each question about 5-digit subtraction with a number\.(\n\nQ: What is \d+ minus \d+\?\n\nA: -?\d+){2}\n\nQ: What is \d+ minus \d+\?\n\nA:$")]
    [InlineData("2Dx", @"^Answer each question about 2-digit multiplication with a number\.(\n\nQ: What is \d+ times \d+\?\n\nA: \d+){2}\n\nQ: What is \d+ times \d+\?\n\nA:$")]
    [InlineData("1DC", @"^Compute the value of each expression\.(\n\nQ: What is \d[-+*]\(\d[-+*]\d\)\?\n\nA: -?\d+){2}\n\nQ: What is \d[-+*]\(\d[-+*]\d\)\?\n\nA:$")]
    [InlineData("CL", @"^Please unscramble the letters into a word, and write that word:(\n[a-z]+ = [a-z]+){2}\n[a-z]+ =$")]
    [InlineData("A1", @"^Please unscramble the letters into a word, and write that word:(\n[a-z]+ = [a-z]+){2}\n[a-z]+ =$")]
    [InlineData("A2", @"^Please unscramble the letters into a word, and write that word:(\n[a-z]+ = [a-z]+){2}\n[a-z]+ =$")]
    [InlineData("RI", @"^Please remove the symbols and spaces between the letters, and write the word:(\n[a-z][^\n]* = [a-z]+){2}\n[a-z][^\n]* =$")]
    [InlineData("RW", @"^Please unscramble the letters into a word, and write that word \(the letters are reversed\):(\n[a-z]+ = [a-z]+){2}\n[a-z]+ =$")]
    public void EachOfTheFifteenTasksPromptsInTheReleasedLayout(string name, string pattern)
    {
        var task = EvalTask.Load(BuiltInTasks.Resolve(name)[0]);
        var prompt = new PromptBuilder(task, text => text.Length, contextLength: 100_000).Build(task.Eval[0], 0, shots: 2, withDescription: true, seed: 1);
        Assert.Equal(2, prompt.EffectiveShots);
        Assert.Matches(new Regex(pattern), prompt.Context);
    }
}
