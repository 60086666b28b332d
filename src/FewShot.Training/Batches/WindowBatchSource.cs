using System.Text.Json.Nodes;

namespace FewShot.Training.Batches;

/// <summary>
/// A batch source built from anything that yields windows of context + 1 tokens (a random offset in a text, the next
/// packed sequence of a shard mixture): input row = window[0..n], target row = window[1..n+1].
/// </summary>
public abstract class WindowBatchSource : ITokenBatchSource
{
    int[] window = [];

    public abstract string Description { get; }

    /// <summary>Writes the next training window (context + 1 tokens) into <paramref name="window"/>.</summary>
    protected abstract void NextTrainingWindow(Span<int> window);

    /// <summary>Writes fixed held-out window number <paramref name="index"/> (context + 1 tokens); the same window for the same index every time.</summary>
    protected abstract void ValidationWindow(long index, Span<int> window);

    public abstract JsonNode SaveState();
    public abstract void RestoreState(JsonNode state);

    public void NextBatch(int batch, int context, Span<long> inputs, Span<long> targets)
    {
        if (window.Length != context + 1) window = new int[context + 1];
        for (var row = 0; row < batch; row++)
        {
            NextTrainingWindow(window);
            Split(window, inputs.Slice(row * context, context), targets.Slice(row * context, context));
        }
    }

    public IReadOnlyList<(long[] Inputs, long[] Targets)> ValidationBatches(int count, int batch, int context)
    {
        var buffer = new int[context + 1];
        var batches = new List<(long[], long[])>(count);
        for (var b = 0; b < count; b++)
        {
            var (inputs, targets) = (new long[batch * context], new long[batch * context]);
            for (var row = 0; row < batch; row++)
            {
                ValidationWindow((long)b * batch + row, buffer);
                Split(buffer, inputs.AsSpan(row * context, context), targets.AsSpan(row * context, context));
            }
            batches.Add((inputs, targets));
        }
        return batches;
    }

    static void Split(ReadOnlySpan<int> window, Span<long> inputs, Span<long> targets)
    {
        for (var i = 0; i < inputs.Length; i++)
        {
            inputs[i] = window[i];
            targets[i] = window[i + 1];
        }
    }
}
