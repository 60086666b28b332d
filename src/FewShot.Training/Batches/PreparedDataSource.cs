using System.Text.Json.Nodes;
using FewShot.Data.Mixture;
using FewShot.Data.Shards;
using FewShot.Model.Tokenization;

namespace FewShot.Training.Batches;

/// <summary>
/// Training batches from a prepared data folder (`fewshot data prepare`): the data library's weighted mixture sampler,
/// as the trainer's window source. The sampler's position is part of every checkpoint, so a resumed run continues with
/// exactly the sequences an uninterrupted run would have seen. Validation windows come from the held-out shards.
/// </summary>
public sealed class PreparedDataSource : WindowBatchSource
{
    readonly TokenShards shards;
    readonly string folder;
    readonly ulong seed;
    readonly IReadOnlyDictionary<string, double>? weights;
    readonly IReadOnlySet<string>? validationSources; // with --weights: the sources trained on; null: all
    MixtureSampler? sampler;
    SamplerState? pendingState;
    IReadOnlyList<long[]>? validation;

    PreparedDataSource(string folder, TokenShards shards, ulong seed, IReadOnlyDictionary<string, double>? weights) =>
        (this.folder, this.shards, this.seed, this.weights, validationSources) =
            (folder, shards, seed, weights, weights?.Where(w => w.Value > 0).Select(w => w.Key).ToHashSet());

    /// <summary>
    /// Opens --data DIR; refuses a folder tokenized differently from the model, and weights (--weights) that name a
    /// source the folder does not have.
    /// </summary>
    public static ITokenBatchSource Open(string folder, ITokenizer tokenizer, long seed, IReadOnlyDictionary<string, double>? weights)
    {
        var dataTokenizer = TokenizerStore.Load(folder).Describe();
        if (dataTokenizer with { VocabFile = null, MergesFile = null } != tokenizer.Describe() with { VocabFile = null, MergesFile = null })
            throw new ArgumentException($"{folder}: the data was tokenized with {dataTokenizer.Kind} ({dataTokenizer.VocabSize} tokens) but the model uses {tokenizer.Name} ({tokenizer.VocabSize} tokens)");
        var shards = TokenShards.Open(folder);
        if (weights is not null) MixtureSampler.RequireKnownSources(shards, weights);
        return new PreparedDataSource(folder, shards, (ulong)seed, weights);
    }

    public override string Description => $"prepared data {folder}";

    MixtureSampler Sampler(int context)
    {
        if (sampler is null)
        {
            sampler = new MixtureSampler(shards, context, seed, weights);
            if (pendingState is not null) sampler.Restore(pendingState);
        }
        return sampler;
    }

    protected override void NextTrainingWindow(Span<int> window) => Sampler(window.Length - 1).Next().AsSpan(0, window.Length).CopyTo(window);

    protected override void ValidationWindow(long index, Span<int> window)
    {
        // Windows are fixed per index: a long list, made once, read by index (it grows if more are asked for).
        if (validation is null || index >= validation.Count)
            validation = MixtureSampler.ValidationBatches(shards, (int)Math.Max(256, 2 * (index + 1)), 1, window.Length - 1, validationSources);
        for (var i = 0; i < window.Length; i++) window[i] = (int)validation[(int)index][i];
    }

    public override JsonNode SaveState() => JsonValue.Create(sampler?.GetState().ToJson() ?? pendingState?.ToJson() ?? "");

    public override void RestoreState(JsonNode state)
    {
        var json = state.GetValue<string>();
        if (json.Length == 0) return;
        pendingState = SamplerState.FromJson(json);
        sampler?.Restore(pendingState);
    }
}
