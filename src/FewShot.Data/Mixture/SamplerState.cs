using System.Text.Json;
using System.Text.Json.Serialization;

namespace FewShot.Data.Mixture;

/// <summary>Where one source's sampling stands: its epoch (which shuffle) and the next position in it.</summary>
public sealed record SourcePosition
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("epoch")] public long Epoch { get; init; }
    [JsonPropertyName("position")] public long Position { get; init; }
}

/// <summary>
/// The exact position of a <see cref="MixtureSampler"/> (JSON): restoring it makes the sampler continue with the
/// same sequences it would have drawn next. The shuffles are recomputed from the seed, so the state stays small.
/// </summary>
public sealed record SamplerState
{
    [JsonPropertyName("seed")] public ulong Seed { get; init; }
    [JsonPropertyName("context")] public int Context { get; init; }
    [JsonPropertyName("rng")] public ulong Rng { get; init; }
    [JsonPropertyName("draws")] public long Draws { get; init; }
    [JsonPropertyName("sources")] public required IReadOnlyList<SourcePosition> Sources { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this);

    public static SamplerState FromJson(string json) =>
        JsonSerializer.Deserialize<SamplerState>(json) ?? throw new FormatException("empty sampler state");
}
