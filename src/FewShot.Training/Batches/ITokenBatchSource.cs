using System.Text.Json.Nodes;

namespace FewShot.Training.Batches;

/// <summary>
/// Where the trainer's tokens come from. A batch is <c>batch</c> rows of <c>context</c> input ids and the same rows
/// shifted by one as targets, row-major. The source's position (RNG state, shard offsets) is part of every checkpoint,
/// so <see cref="SaveState"/> then <see cref="RestoreState"/> must make the following batches identical.
/// </summary>
public interface ITokenBatchSource
{
    /// <summary>For people and for the run folder: "text:input.txt (1.0M train tokens, 111k validation tokens)".</summary>
    string Description { get; }

    /// <summary>Fills <paramref name="inputs"/> and <paramref name="targets"/> (each batch x context) with the next training batch.</summary>
    void NextBatch(int batch, int context, Span<long> inputs, Span<long> targets);

    /// <summary>
    /// <paramref name="count"/> fixed held-out batches: the same ones on every call (and after a resume), so that a
    /// validation curve measures the model and not the sample.
    /// </summary>
    IReadOnlyList<(long[] Inputs, long[] Targets)> ValidationBatches(int count, int batch, int context);

    JsonNode SaveState();

    /// <summary>Continues from a state written by <see cref="SaveState"/>; throws <see cref="InvalidDataException"/> for a foreign state.</summary>
    void RestoreState(JsonNode state);
}
