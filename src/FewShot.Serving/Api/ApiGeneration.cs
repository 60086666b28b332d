using System.Text.Json;
using System.Threading.Channels;
using FewShot.Serving.Chat;
using FewShot.Serving.Engine;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FewShot.Serving.Api;

/// <summary>
/// One admitted API request: queues its n choices, answers with one JSON object or a stream of server-sent events in
/// OpenAI's chunk format ending with <c>data: [DONE]</c>, then charges the gate's lease with the actual usage.
/// </summary>
sealed class ApiGeneration(string model, bool chat, PreparedGeneration prepared, GenerationParameters parameters,
    FewShotChatClient client, IGenerationLease lease, int retryAfterSeconds)
{
    readonly string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
    readonly long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public async Task RunAsync(HttpContext http)
    {
        var promptTokens = prepared.PromptIds.Length;
        var completionTokens = 0;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        try
        {
            List<GenerationJob> jobs = [];
            try
            {
                for (var i = 0; i < parameters.Choices; i++) jobs.Add(client.Start(prepared, cancel.Token));
            }
            catch (ServerBusyException e)
            {
                await cancel.CancelAsync(); // withdraw the choices already queued
                await ApiException.Busy(e.Message, retryAfterSeconds).ToResult().ExecuteAsync(http);
                return;
            }

            if (parameters.Stream) completionTokens = await StreamAsync(http, jobs, promptTokens);
            else
            {
                var results = await Task.WhenAll(jobs.Select(j => j.Result));
                completionTokens = results.Sum(r => r.CompletionTokens);
                await http.Response.WriteAsJsonAsync(Body(results, promptTokens), http.RequestAborted);
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

    object Body(GenerationResult[] results, int promptTokens) => chat
        ? new
        {
            id, @object = "chat.completion", created, model,
            choices = results.Select((r, i) => new { index = i, message = new { role = "assistant", content = r.Text.Trim() }, logprobs = (object?)null, finish_reason = Finish(r) }),
            usage = Usage(promptTokens, results.Sum(r => r.CompletionTokens)),
        }
        : new
        {
            id, @object = "text_completion", created, model,
            choices = results.Select((r, i) => new { text = r.Text, index = i, logprobs = (object?)null, finish_reason = Finish(r) }),
            usage = Usage(promptTokens, results.Sum(r => r.CompletionTokens)),
        };

    static object Usage(int prompt, int completion) => new { prompt_tokens = prompt, completion_tokens = completion, total_tokens = prompt + completion };

    // "cancelled" is ours; OpenAI clients know only stop and length.
    static string Finish(GenerationResult r) => r.FinishReason == Model.Generation.FinishReason.Length ? "length" : "stop";

    async Task<int> StreamAsync(HttpContext http, List<GenerationJob> jobs, int promptTokens)
    {
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        // Merge the choices' chunks into one ordered stream of events: (choice, text or null when finished).
        var merged = Channel.CreateUnbounded<(int Index, string? Text, GenerationResult? Done)>();
        var pumps = jobs.Select((job, index) => Task.Run(async () =>
        {
            await foreach (var chunk in job.Chunks.ReadAllAsync()) merged.Writer.TryWrite((index, chunk.Text, null));
            merged.Writer.TryWrite((index, null, await job.Result));
        })).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(t => merged.Writer.TryComplete(t.Exception), TaskScheduler.Default);

        if (chat)
            for (var i = 0; i < jobs.Count; i++) await Send(response, ChatChunk(i, new { role = "assistant", content = "" }, null));
        var leading = new bool[jobs.Count];
        Array.Fill(leading, chat);
        var completion = 0;
        await foreach (var (index, text, done) in merged.Reader.ReadAllAsync(http.RequestAborted))
        {
            if (done is not null)
            {
                completion += done.CompletionTokens;
                await Send(response, chat ? ChatChunk(index, new { }, Finish(done)) : TextChunk(index, "", Finish(done)));
                continue;
            }
            var piece = leading[index] ? text!.TrimStart() : text!;
            if (piece.Length == 0) continue;
            leading[index] = false;
            await Send(response, chat ? ChatChunk(index, new { content = piece }, null) : TextChunk(index, piece, null));
        }
        if (parameters.IncludeUsage)
            await Send(response, new { id, @object = chat ? "chat.completion.chunk" : "text_completion", created, model, choices = Array.Empty<object>(), usage = Usage(promptTokens, completion) });
        await response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
        await response.Body.FlushAsync(http.RequestAborted);
        return completion;
    }

    object ChatChunk(int index, object delta, string? finish) =>
        new { id, @object = "chat.completion.chunk", created, model, choices = new[] { new { index, delta, logprobs = (object?)null, finish_reason = finish } } };

    object TextChunk(int index, string text, string? finish) =>
        new { id, @object = "text_completion", created, model, choices = new[] { new { text, index, logprobs = (object?)null, finish_reason = finish } } };

    static async Task Send(HttpResponse response, object chunk)
    {
        await response.WriteAsync("data: " + JsonSerializer.Serialize(chunk) + "\n\n", response.HttpContext.RequestAborted);
        await response.Body.FlushAsync(response.HttpContext.RequestAborted);
    }
}
