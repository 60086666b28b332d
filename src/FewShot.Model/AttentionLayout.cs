using System.Text.Json;
using System.Text.Json.Nodes;

namespace FewShot.Model;

/// <summary>The attention pattern of one layer.</summary>
public enum AttentionKind
{
    /// <summary>Causal attention over every earlier position.</summary>
    Dense,
    /// <summary>Locally banded causal attention: a token sees itself and the previous window - 1 tokens.</summary>
    Local,
    /// <summary>The Sparse Transformer's strided pattern: the previous l positions, and every l-th position before them.</summary>
    Strided,
    /// <summary>The Sparse Transformer's fixed pattern: the own block of l positions, and the last c of every block.</summary>
    Fixed,
}

/// <summary>
/// Per-layer attention kinds, written the way GPT-Neo writes <c>attention_types</c>:
/// a list of <c>[[kinds...], repeat]</c> entries, e.g. <c>[[["dense","local"], 6]]</c> for 12 alternating layers.
/// </summary>
public static class AttentionLayout
{
    public static string Name(AttentionKind kind) => kind switch
    {
        AttentionKind.Dense => "dense",
        AttentionKind.Local => "local",
        AttentionKind.Strided => "strided",
        AttentionKind.Fixed => "fixed",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static AttentionKind Parse(string name, string where) => name.ToLowerInvariant() switch
    {
        "dense" or "global" => AttentionKind.Dense, // GPT-Neo calls dense layers "global"
        "local" => AttentionKind.Local,
        "strided" => AttentionKind.Strided,
        "fixed" => AttentionKind.Fixed,
        _ => throw new FormatException($"{where}: unknown attention type '{name}' (expected dense, local, strided or fixed)"),
    };

    /// <summary>Expands GPT-Neo style entries into one kind per layer.</summary>
    public static AttentionKind[] Expand(JsonNode? node, string where)
    {
        if (node is not JsonArray entries || entries.Count == 0)
            throw new FormatException($"{where}: expected a list like [[\"dense\",\"local\"], 6]");
        // Accept a single entry [["dense","local"], 6] as well as a list of entries.
        if (entries.Count == 2 && entries[0] is JsonArray && entries[1] is JsonValue) entries = [entries.DeepClone()];

        var layers = new List<AttentionKind>();
        foreach (var entry in entries)
        {
            if (entry is not JsonArray { Count: 2 } pair || pair[0] is not JsonArray kinds || pair[1] is not JsonValue repeat
                || !repeat.TryGetValue<int>(out var times) || times < 1)
                throw new FormatException($"{where}: each entry must be [[kinds...], repeat], got {entry?.ToJsonString()}");
            for (var i = 0; i < times; i++)
                foreach (var kind in kinds)
                    layers.Add(Parse(kind?.GetValue<string>() ?? "", where));
        }
        return layers.ToArray();
    }

    /// <summary>Compresses per-layer kinds back into GPT-Neo style entries (one entry per run of a repeated pattern).</summary>
    public static JsonArray Compress(IReadOnlyList<AttentionKind> layers)
    {
        // Find the shortest pattern that tiles the whole list; fall back to the list itself.
        for (var period = 1; period <= layers.Count; period++)
        {
            if (layers.Count % period != 0) continue;
            var tiles = true;
            for (var i = period; i < layers.Count && tiles; i++) tiles = layers[i] == layers[i % period];
            if (!tiles) continue;
            var pattern = new JsonArray(layers.Take(period).Select(k => (JsonNode)JsonValue.Create(Name(k))).ToArray());
            return [new JsonArray(pattern, JsonValue.Create(layers.Count / period))];
        }
        throw new InvalidOperationException("unreachable: a list always tiles itself");
    }

    public static string Describe(IReadOnlyList<AttentionKind> layers) => Compress(layers).ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
