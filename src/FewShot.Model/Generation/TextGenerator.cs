using System.Runtime.CompilerServices;
using System.Threading.Channels;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Model.Generation;

/// <summary>
/// Autoregressive generation with a KV cache: the prompts are read in one forward pass, then each step feeds only the
/// newest token of every unfinished sequence. Finished sequences leave the batch (their cache rows are compacted away).
/// The forward pass runs through <paramref name="decoder"/>: the model's own TorchSharp pass by default (it follows
/// the weights as they train), or a fused decoder over a snapshot of them (see FewShot.Model.Inference).
/// </summary>
public sealed class TextGenerator(Gpt model, ITokenizer tokenizer, IDecoder? decoder = null)
{
    readonly IDecoder decoder = decoder ?? new TorchDecoder(model);

    public Gpt Model => model;
    public ITokenizer Tokenizer => tokenizer;
    public IDecoder Decoder => decoder;

    public IReadOnlyList<Completion> Generate(IReadOnlyList<string> prompts, SamplingOptions options, CancellationToken cancel = default) =>
        Generate(prompts.Select(tokenizer.Encode).ToArray(), options, cancel);

    /// <summary>Generates for a batch of prompts; <paramref name="onChunk"/> receives (prompt index, released chunk) as text becomes final.</summary>
    public IReadOnlyList<Completion> Generate(IReadOnlyList<int[]> prompts, SamplingOptions options, CancellationToken cancel = default,
        Action<int, TokenChunk>? onChunk = null)
    {
        options.Validate();
        if (prompts.Count == 0) return [];
        if (options.MaxNewTokens == 0) return prompts.Select(p => new Completion(p, [], "", FinishReason.Length)).ToArray();
        var inputs = prompts.Select((p, i) => PreparePrompt(p, i, options)).ToArray();
        var sequences = inputs.Select(p => new Sequence(p, options.Stop)).ToArray();
        var context = model.Config.ContextLength;
        var capacity = (int)Math.Min(context, inputs.Max(p => p.Length) + (long)options.MaxNewTokens);

        var wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var session = decoder.Open(sequences.Length, capacity);
            using var generator = options.Seed is { } seed ? new Generator((ulong)seed) : null;

            // rows[r] is the sequence whose cache lives in row r; the batch shrinks as sequences finish.
            var rows = Enumerable.Range(0, sequences.Length).ToList();
            Tensor? nextLogits = null; // (rows, V)
            using (var scope = NewDisposeScope())
            {
                nextLogits = session.Prefill(0, inputs).MoveToOuterDisposeScope();
            }

            while (rows.Count > 0)
            {
                using var scope = NewDisposeScope();
                var picked = TokenSampler.SampleIds(nextLogits, options, generator);
                nextLogits.Dispose();

                var finishedRows = new List<int>();
                for (var r = 0; r < rows.Count; r++)
                {
                    var sequence = sequences[rows[r]];
                    var reason = cancel.IsCancellationRequested ? FinishReason.Cancelled : sequence.Accept((int)picked[r], tokenizer, options, onChunk, rows[r]);
                    if (reason is null && session.Length(r) >= capacity) reason = FinishReason.Length;
                    if (reason is not null) { sequence.Finish(reason, tokenizer, onChunk, rows[r]); finishedRows.Add(r); }
                }
                // Remove finished rows from the back, moving the last row into each hole.
                foreach (var r in finishedRows.OrderDescending())
                {
                    var last = rows.Count - 1;
                    if (r != last) { session.CopyRow(last, r); rows[r] = rows[last]; picked[r] = picked[last]; }
                    rows.RemoveAt(last);
                }
                if (rows.Count == 0) break;
                nextLogits = session.Step(picked.AsSpan(0, rows.Count)).MoveToOuterDisposeScope();
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        return sequences.Select(s => s.Result()).ToArray();
    }

    /// <summary>Streams one prompt's output as it becomes final. Decoding runs on its own thread (dispose scopes are per thread).</summary>
    public async IAsyncEnumerable<TokenChunk> StreamAsync(int[] prompt, SamplingOptions options, [EnumeratorCancellation] CancellationToken cancel = default)
    {
        var channel = Channel.CreateUnbounded<TokenChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var worker = Task.Factory.StartNew(() =>
        {
            try { Generate([prompt], options, cancel, (_, chunk) => channel.Writer.TryWrite(chunk)); channel.Writer.Complete(); }
            catch (Exception e) { channel.Writer.Complete(e); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        await foreach (var chunk in channel.Reader.ReadAllAsync(CancellationToken.None)) yield return chunk;
        await worker;
    }

    int[] PreparePrompt(int[] prompt, int index, SamplingOptions options)
    {
        var vocab = model.Config.VocabSize;
        for (var i = 0; i < prompt.Length; i++)
            if (prompt[i] < 0 || prompt[i] >= vocab)
                throw new ArgumentException($"prompt {index}: token id {prompt[i]} at position {i} is outside the vocabulary [0, {vocab})");
        if (prompt.Length == 0)
            return tokenizer.EndOfText >= 0 ? [tokenizer.EndOfText] // unconditional generation starts after a document boundary
                : throw new ArgumentException($"prompt {index} is empty and this vocabulary has no end-of-text token to start from");

        var context = model.Config.ContextLength;
        if (options.TruncateLeft && prompt.Length + options.MaxNewTokens > context)
            return prompt[^Math.Min(prompt.Length, Math.Max(1, context - options.MaxNewTokens))..];
        if (prompt.Length >= context)
            throw new ArgumentException($"prompt {index} has {prompt.Length} tokens but the context holds {context}; shorten it or ask for left truncation");
        return prompt;
    }

    sealed class Sequence(int[] prompt, IReadOnlyList<string> stops)
    {
        readonly List<int> ids = [];
        readonly StopSequenceFilter filter = new(stops);
        readonly List<int> pendingIds = [];
        string? finishReason;

        // Returns a finish reason when this token ends the sequence.
        public string? Accept(int id, ITokenizer tokenizer, SamplingOptions options, Action<int, TokenChunk>? onChunk, int index)
        {
            if (options.StopAtEndOfText && id == tokenizer.EndOfText) return FinishReason.Stop;
            ids.Add(id);
            pendingIds.Add(id);
            // With no stop sequences and nobody streaming, the text is needed only at the end: decoding all ids after
            // every token costs O(length) each (~12 us at 128 tokens), ~0.5% of a small model's token.
            if (stops.Count == 0 && onChunk is null) return ids.Count >= options.MaxNewTokens ? FinishReason.Length : null;
            var released = filter.Update(tokenizer.Decode(ids));
            if (released.Length > 0 || filter.Stopped) Emit(released, onChunk, index);
            if (filter.Stopped) return FinishReason.Stop;
            return ids.Count >= options.MaxNewTokens ? FinishReason.Length : null;
        }

        public void Finish(string reason, ITokenizer tokenizer, Action<int, TokenChunk>? onChunk, int index)
        {
            finishReason = reason;
            // The text of any tokens accepted without decoding (unchanged text releases nothing new), then what was held back.
            var rest = filter.Stopped ? "" : filter.Update(tokenizer.Decode(ids));
            rest += filter.Flush();
            if (rest.Length > 0 || pendingIds.Count > 0) Emit(rest, onChunk, index);
        }

        void Emit(string text, Action<int, TokenChunk>? onChunk, int index)
        {
            onChunk?.Invoke(index, new TokenChunk([.. pendingIds], text));
            pendingIds.Clear();
        }

        public Completion Result() => new(prompt, [.. ids], filter.FinalText, finishReason ?? FinishReason.Length);
    }
}
