using System.Text.Json;
using System.Threading.Channels;
using FewShot.Model.Tokenization;
using FewShot.Serving.Chat;
using FewShot.Serving.Engine;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FewShot.Serving.Api;

/// <summary>One prompt of a request, ready for the model, and its text as echo returns it.</summary>
sealed record ApiPrompt(PreparedGeneration Prepared, string Text);

/// <summary>
/// One admitted API request: scores its prompts when echo asks for their log-probabilities (all prompts in one job,
/// batched), queues best_of sequences per prompt, and answers with one JSON object or a stream of server-sent events
/// in OpenAI's chunk format ending with <c>data: [DONE]</c>; then charges the gate's lease with the actual usage.
/// Choice i*n + j is prompt i's j-th best sequence.
/// </summary>
sealed class ApiGeneration(string model, bool chat, IReadOnlyList<ApiPrompt> prompts, GenerationParameters parameters,
    FewShotChatClient client, ITokenizer tokenizer, IGenerationLease lease, int retryAfterSeconds)
{
    readonly string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
    readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    readonly int n = parameters.Choices;

    public async Task RunAsync(HttpContext http)
    {
        var promptTokens = prompts.Sum(p => p.Prepared.PromptIds.Length);
        var completionTokens = 0;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        try
        {
            var jobs = prompts.Select(_ => new List<GenerationJob>()).ToArray();
            TokenLogprob[][]? echoed = null;
            try
            {
                var scoring = parameters.Echo && parameters.Logprobs is { } top
                    ? client.Score([.. prompts.Select(p => p.Prepared.PromptIds)], top, cancel.Token) : null;
                // best_of ranks by log-probability, so it needs each sampled token's even when logprobs was not asked for.
                var extras = new JobExtras(parameters.Logprobs ?? (parameters.BestOf > n ? 0 : null), parameters.LogitBias);
                for (var p = 0; p < prompts.Count; p++)
                    if (prompts[p].Prepared.Sampling.MaxNewTokens > 0)
                        for (var b = 0; b < parameters.BestOf; b++) jobs[p].Add(client.Start(Nth(prompts[p].Prepared, b), cancel.Token, extras));
                if (scoring is not null) echoed = await scoring.Result;
            }
            catch (ServerBusyException e)
            {
                await cancel.CancelAsync(); // withdraw what was already queued
                await ApiException.Busy(e.Message, retryAfterSeconds).ToResult().ExecuteAsync(http);
                return;
            }

            if (parameters.Stream) completionTokens = await StreamAsync(http, jobs, echoed);
            else
            {
                var results = new GenerationResult[prompts.Count][];
                for (var p = 0; p < prompts.Count; p++) results[p] = await Task.WhenAll(jobs[p].Select(j => j.Result));
                completionTokens = results.Sum(r => r.Sum(x => x.CompletionTokens));
                await http.Response.WriteAsJsonAsync(Body(results, echoed, promptTokens, completionTokens), http.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { } // the client went away
        catch (IOException) when (http.RequestAborted.IsCancellationRequested) { }
        catch (Exception e) when (!http.Response.HasStarted && e is not OperationCanceledException)
        {
            await new ApiException(StatusCodes.Status500InternalServerError, "server_error", $"The model failed while generating: {e.Message}", null, "generation_failed")
                .ToResult().ExecuteAsync(http);
        }
        finally
        {
            await cancel.CancelAsync();
            lease.Charge(promptTokens, completionTokens);
            await lease.DisposeAsync();
        }
    }

    // With a seed, sequence b of a prompt samples with seed + b: n identical choices would be no choice.
    static PreparedGeneration Nth(PreparedGeneration prepared, int b) =>
        b == 0 || prepared.Sampling.Seed is not { } seed ? prepared : prepared with { Sampling = prepared.Sampling with { Seed = seed + b } };

    // The n best of each prompt's best_of sequences by log-probability per token (in order when best_of = n), or n
    // empty ones when nothing was generated (max_tokens 0).
    IEnumerable<GenerationResult?> Chosen(GenerationResult[] results) =>
        results.Length == 0 ? Enumerable.Repeat<GenerationResult?>(null, n)
        : parameters.BestOf > n ? results.OrderByDescending(LogprobsFormat.MeanLogprob).Take(n)
        : results;

    object Body(GenerationResult[][] results, TokenLogprob[][]? echoed, int promptTokens, int completionTokens)
    {
        var choices = new List<object>();
        for (var p = 0; p < prompts.Count; p++)
            foreach (var r in Chosen(results[p]))
            {
                var index = choices.Count;
                var completion = r?.Text ?? "";
                var start = 0;
                var visible = r?.Logprobs is { } tokens ? LogprobsFormat.Visible(tokenizer, tokens, completion.Length, ref start) : [];
                var finish = r is null ? "length" : Finish(r);
                if (chat)
                {
                    var logprobs = parameters.Logprobs is null ? null : LogprobsFormat.Chat(tokenizer, visible);
                    choices.Add(new { index, message = new { role = "assistant", content = completion.Trim() }, logprobs, finish_reason = finish });
                    continue;
                }
                var prompt = prompts[p].Text;
                var text = parameters.Echo ? prompt + completion : completion;
                object? completionLogprobs = parameters.Logprobs is null ? null
                    : LogprobsFormat.Completion(tokenizer, [.. echoed?[p] ?? [], .. visible], echoed is null ? prompt.Length : 0);
                choices.Add(new { text, index, logprobs = completionLogprobs, finish_reason = finish });
            }
        return new
        {
            id, @object = chat ? "chat.completion" : "text_completion", created, model, choices,
            usage = Usage(promptTokens, completionTokens),
        };
    }

    static object Usage(int prompt, int completion) => new { prompt_tokens = prompt, completion_tokens = completion, total_tokens = prompt + completion };

    // "cancelled" is ours; OpenAI clients know only stop and length.
    static string Finish(GenerationResult r) => r.FinishReason == Model.Generation.FinishReason.Length ? "length" : "stop";

    async Task<int> StreamAsync(HttpContext http, List<GenerationJob>[] jobs, TokenLogprob[][]? echoed)
    {
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        // Streams have best_of = n, so choice p * n + j is job j of prompt p (or an empty choice when max_tokens is 0).
        var choices = prompts.Count * n;
        var wantLogprobs = parameters.Logprobs is not null;
        for (var c = 0; c < choices; c++)
        {
            if (chat) await Send(response, ChatChunk(c, new { role = "assistant", content = "" }, null, null));
            else if (parameters.Echo)
            {
                var p = c / n;
                await Send(response, TextChunk(c, prompts[p].Text, null,
                    wantLogprobs ? LogprobsFormat.Completion(tokenizer, echoed?[p] ?? [], 0) : null));
            }
        }

        // Merge the choices' chunks into one ordered stream of events: (choice, chunk, or the result when finished).
        var merged = Channel.CreateUnbounded<(int Index, ReleasedChunk? Chunk, GenerationResult? Done)>();
        var pumps = new List<Task>();
        for (var c = 0; c < choices; c++)
        {
            var index = c;
            var job = jobs[c / n].Count > 0 ? jobs[c / n][c % n] : null;
            pumps.Add(Task.Run(async () =>
            {
                if (job is null) { merged.Writer.TryWrite((index, null, null)); return; }
                await foreach (var chunk in job.Chunks.ReadAllAsync()) merged.Writer.TryWrite((index, chunk, null));
                merged.Writer.TryWrite((index, null, await job.Result));
            }));
        }
        _ = Task.WhenAll(pumps).ContinueWith(t => merged.Writer.TryComplete(t.Exception), TaskScheduler.Default);

        var leading = Enumerable.Repeat(chat, choices).ToArray();
        var textLength = new int[choices]; // completion characters sent per choice
        var tokenStart = new int[choices]; // characters covered by the tokens whose log-probabilities were sent
        var completion = 0;
        await foreach (var (index, chunk, done) in merged.Reader.ReadAllAsync(http.RequestAborted))
        {
            if (chunk is null)
            {
                completion += done?.CompletionTokens ?? 0;
                var finish = done is null ? "length" : Finish(done);
                await Send(response, chat ? ChatChunk(index, new { }, finish, null) : TextChunk(index, "", finish, null));
                continue;
            }
            textLength[index] += chunk.Text.Length;
            var visible = chunk.Logprobs is { } tokens ? LogprobsFormat.Visible(tokenizer, tokens, textLength[index], ref tokenStart[index]) : [];
            var piece = leading[index] ? chunk.Text.TrimStart() : chunk.Text;
            if (piece.Length == 0 && visible.Length == 0) continue;
            if (piece.Length > 0) leading[index] = false;
            var promptLength = prompts[index / n].Text.Length;
            await Send(response, chat
                ? ChatChunk(index, new { content = piece }, null, wantLogprobs ? LogprobsFormat.Chat(tokenizer, visible) : null)
                : TextChunk(index, piece, null, wantLogprobs ? LogprobsFormat.Completion(tokenizer, visible, promptLength + tokenStart[index] - visible.Sum(t => LogprobsFormat.Text(tokenizer, t.Id).Length)) : null));
        }
        if (parameters.IncludeUsage)
            await Send(response, new { id, @object = chat ? "chat.completion.chunk" : "text_completion", created, model, choices = Array.Empty<object>(),
                usage = Usage(prompts.Sum(p => p.Prepared.PromptIds.Length), completion) });
        await response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
        await response.Body.FlushAsync(http.RequestAborted);
        return completion;
    }

    object ChatChunk(int index, object delta, string? finish, object? logprobs) =>
        new { id, @object = "chat.completion.chunk", created, model, choices = new[] { new { index, delta, logprobs, finish_reason = finish } } };

    object TextChunk(int index, string text, string? finish, object? logprobs) =>
        new { id, @object = "text_completion", created, model, choices = new[] { new { text, index, logprobs, finish_reason = finish } } };

    static async Task Send(HttpResponse response, object chunk)
    {
        await response.WriteAsync("data: " + JsonSerializer.Serialize(chunk) + "\n\n", response.HttpContext.RequestAborted);
        await response.Body.FlushAsync(response.HttpContext.RequestAborted);
    }
}
