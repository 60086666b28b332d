namespace FewShot.Tasks.DotNetDocs;

/// <summary>
/// "Which .NET type does this summary describe?" over the SDK's documentation. As free generation the answer is the
/// type's short name; as multiple choice the choices are the answer and three other types, from the same namespace
/// where it has enough. Context: "Q: Which .NET type is this? Manages a compact array of bit values. A:" + " BitArray".
/// </summary>
public sealed class TypeQuestionTask(NamespaceSplit split, IReadOnlyList<TypeDoc>? types = null) : IMultipleChoiceTask
{
    public const int ChoiceCount = 4;

    public NamespaceSplit Split { get; } = split;
    public string Name => Split == NamespaceSplit.InDistribution ? "dotnet-types" : "dotnet-types-ood";
    public string Description => "Name the .NET type that each summary describes.";
    public int DefaultCount => Types.Count;

    IReadOnlyList<TypeDoc> Types => types ?? DotNetTypeDocs.Split(Split);

    public static TaskExample Example(TypeDoc type) => new($"Q: Which .NET type is this? {type.Summary} A:", " " + type.Name);

    public IEnumerable<TaskExample> Generate(int count, int seed) => Draw(count, seed).Select(t => Example(t.Type));

    public IEnumerable<ChoiceExample> GenerateChoices(int count, int seed) => Draw(count, seed).Select(t => t.Choices);

    // Types in a seeded random order (cycling when count exceeds the pool), each with its multiple-choice form.
    IEnumerable<(TypeDoc Type, ChoiceExample Choices)> Draw(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var pool = Types;
        if (pool.Count == 0) throw new InvalidOperationException($"{Name}: no documented types to ask about");
        var names = pool.Select(t => t.Name).Distinct().ToArray();
        var byNamespace = pool.GroupBy(t => t.Namespace).ToDictionary(g => g.Key, g => g.Select(t => t.Name).Distinct().ToArray());
        var random = new Random(seed);
        var order = Enumerable.Range(0, pool.Count).ToArray();
        for (var produced = 0; produced < count;)
        {
            random.Shuffle(order);
            foreach (var index in order)
            {
                if (produced++ >= count) yield break;
                var type = pool[index];
                yield return (type, Choices(type, byNamespace[type.Namespace], names, random));
            }
        }
    }

    static ChoiceExample Choices(TypeDoc type, string[] siblings, string[] everyone, Random random)
    {
        var source = siblings.Length >= ChoiceCount ? siblings : everyone;
        var choices = new List<string> { type.Name };
        for (var guard = 0; choices.Count < Math.Min(ChoiceCount, everyone.Length) && guard < 1000; guard++)
        {
            var other = source[random.Next(source.Length)];
            if (!choices.Contains(other)) choices.Add(other);
        }
        var shuffled = choices.OrderBy(_ => random.Next()).ToList();
        var context = Example(type).Context;
        return new ChoiceExample(context, [.. shuffled.Select(c => " " + c)], shuffled.IndexOf(type.Name));
    }
}
