using System.Globalization;

namespace FewShot.Tasks.Arithmetic;

public enum ArithmeticOperation { Plus, Minus, Times, Composite }

/// <summary>
/// GPT-3's arithmetic (Section 3.9): two integers drawn uniformly from [0, 10^digits), asked as
/// "Q: What is 48 plus 76? A: 124" (plus, minus, times), or for 1DC three one-digit numbers combined with two of
/// +, -, * and parentheses around the last two: "Q: What is 6+(4*8)? A: 38". Laid out as in the task files OpenAI
/// released with the paper: context "\n\nQ: What is 48 plus 76?\n\nA:", completion " 124"; the contexts carry the blank
/// lines, so examples follow each other with no separator.
/// </summary>
public sealed class ArithmeticTask(int digits, ArithmeticOperation operation) : ISyntheticTask
{
    public int Digits { get; } = digits is >= 1 and <= 9 ? digits : throw new ArgumentOutOfRangeException(nameof(digits));
    public ArithmeticOperation Operation { get; } = operation;

    public string Name => Operation switch
    {
        ArithmeticOperation.Plus => $"{Digits}D+",
        ArithmeticOperation.Minus => $"{Digits}D-",
        ArithmeticOperation.Times => $"{Digits}Dx",
        _ => $"{Digits}DC",
    };

    public string Description => Operation switch
    {
        ArithmeticOperation.Composite => "Compute the value of each expression.",
        _ => $"Answer each question about {Digits}-digit {Verb} with a number.",
    };

    string Verb => Operation switch
    {
        ArithmeticOperation.Plus => "addition",
        ArithmeticOperation.Minus => "subtraction",
        _ => "multiplication",
    };

    public int DefaultCount => 2000;

    public string ExampleSeparator => "";

    public IEnumerable<TaskExample> Generate(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var random = new Random(seed);
        var limit = (int)Math.Pow(10, Digits); // operands in [0, 10^digits)
        for (var i = 0; i < count; i++)
        {
            if (Operation == ArithmeticOperation.Composite)
            {
                yield return Composite(random.Next(limit), random.Next(limit), random.Next(limit), Pick(random), Pick(random));
                continue;
            }
            yield return Binary(random.Next(limit), random.Next(limit), Operation);
        }
    }

    /// <summary>"\n\nQ: What is {a} plus {b}?\n\nA:" + " {a+b}".</summary>
    public static TaskExample Binary(long a, long b, ArithmeticOperation operation)
    {
        var (word, value) = operation switch
        {
            ArithmeticOperation.Plus => ("plus", a + b),
            ArithmeticOperation.Minus => ("minus", a - b),
            ArithmeticOperation.Times => ("times", a * b),
            _ => throw new ArgumentException("a binary operation is plus, minus or times", nameof(operation)),
        };
        return new TaskExample(Question($"{N(a)} {word} {N(b)}"), " " + N(value));
    }

    /// <summary>"\n\nQ: What is {a}{op1}({b}{op2}{c})?\n\nA:" + " {value}".</summary>
    public static TaskExample Composite(long a, long b, long c, char first, char second) =>
        new(Question($"{N(a)}{first}({N(b)}{second}{N(c)})"), " " + N(Apply(first, a, Apply(second, b, c))));

    /// <summary>The released files' layout: a blank line before the question and one between it and "A:".</summary>
    static string Question(string expression) => $"\n\nQ: What is {expression}?\n\nA:";

    static char Pick(Random random) => "+-*"[random.Next(3)];

    static long Apply(char op, long x, long y) => op switch
    {
        '+' => x + y,
        '-' => x - y,
        '*' => x * y,
        _ => throw new ArgumentException($"unknown operator '{op}'"),
    };

    static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
