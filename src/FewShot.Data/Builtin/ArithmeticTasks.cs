namespace FewShot.Data.Builtin;

/// <summary>
/// GPT-3's ten arithmetic tasks (Section 3.9.1) in the paper's exact format: "Q: What is 48 plus 76? A: 124".
/// nD+ and nD- draw both operands uniformly from [0, 10^n) (so differences may be negative: "A: -19"); 2Dx multiplies
/// two numbers from [0, 100); 1DC composes three one-digit numbers with +, - or * ("Q: What is 6+(4*8)? A: 38").
/// </summary>
public static class ArithmeticTasks
{
    /// <summary>The task codes in the paper's order.</summary>
    public static readonly IReadOnlyList<string> All = ["2D+", "2D-", "3D+", "3D-", "4D+", "4D-", "5D+", "5D-", "2Dx", "1DC"];

    /// <summary>The paper used 2,000 instances per task.</summary>
    public const int PaperInstances = 2000;

    public static IReadOnlyList<TaskExample> Generate(string task, int count, int seed)
    {
        var random = new Random(HashCode.Combine(seed, StableHash(task)));
        return [.. Enumerable.Range(0, count).Select(_ => One(task, random))];
    }

    /// <summary>One instance of <paramref name="task"/> drawn with <paramref name="random"/>.</summary>
    public static TaskExample One(string task, Random random)
    {
        if (task == "1DC")
        {
            int a = random.Next(10), b = random.Next(10), c = random.Next(10);
            char op1 = "+-*"[random.Next(3)], op2 = "+-*"[random.Next(3)];
            var inner = Apply(op2, b, c);
            return Make(task, $"{a}{op1}({b}{op2}{c})", Apply(op1, a, inner));
        }
        if (task.Length != 3 || task[1] != 'D' || !char.IsDigit(task[0]) || task[2] is not ('+' or '-' or 'x'))
            throw new ArgumentException($"unknown arithmetic task '{task}' (known: {string.Join(", ", All)})");
        var digits = task[0] - '0';
        var limit = (int)Math.Pow(10, digits);
        int x = random.Next(limit), y = random.Next(limit);
        return task[2] switch
        {
            '+' => Make(task, $"{x} plus {y}", (long)x + y),
            '-' => Make(task, $"{x} minus {y}", (long)x - y),
            _ => Make(task, $"{x} times {y}", (long)x * y),
        };
    }

    static TaskExample Make(string task, string question, long answer) => new(task, $"Q: What is {question}? A:", $" {answer}");

    static long Apply(char op, long a, long b) => op switch { '+' => a + b, '-' => a - b, _ => a * b };

    internal static int StableHash(string s)
    {
        var h = 17;
        foreach (var c in s) h = unchecked(h * 31 + c);
        return h;
    }
}
