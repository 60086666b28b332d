using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Serving.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace FewShot.Serving.Upstreams;

/// <summary>
/// Relays one upstream stream of server-sent events to the client, event by event, flushing each (no buffering of the
/// answer). Before the first event nothing is sent, so a failure can still move to another upstream; after it, a broken
/// stream (cut, malformed, silent past the idle timeout, longer than max_tokens or the total timeout) ends with an error
/// event. The usage chunk the gateway asked for is passed on only when the client asked for it too.
/// </summary>
sealed class StreamRelay(HttpContext http, RelayRequest request, Upstream upstream, UpstreamRelay.Charge charge, ILogger log)
{
    (int Prompt, int Completion)? usage;
    bool usageSent;
    long contentChunks;
    bool textSent;

    public async Task<UpstreamFailure?> RunAsync(HttpResponseMessage response, CancellationTokenSource watch, long started)
    {
        var settings = upstream.Settings;
        var total = TimeSpan.FromSeconds(settings.TotalTimeoutSeconds);
        string? first;
        SseReader reader;
        try
        {
            if (response.Content.Headers.ContentType?.MediaType != "text/event-stream") return Retry("invalid_response", UpstreamFailure.Invalid);
            reader = new SseReader(await response.Content.ReadAsStreamAsync(watch.Token));
            first = await reader.NextAsync(watch.Token);
            if (first is null) return Retry("unreachable", UpstreamFailure.Unreachable);
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested) { return Retry("timeout", UpstreamFailure.FirstByteTimeout); }
        catch (Exception e) when (e is IOException or HttpRequestException) { return Retry("unreachable", UpstreamFailure.Unreachable); }
        catch (InvalidDataException) { return Retry("invalid_response", UpstreamFailure.Invalid); }
        upstream.Stats.FirstByte.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);

        var client = http.Response;
        client.StatusCode = StatusCodes.Status200OK;
        client.ContentType = "text/event-stream";
        client.Headers.CacheControl = "no-cache";
        client.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var data = first;
        string? problem = null, code = null;
        try
        {
            while (true)
            {
                if (data == "[DONE]") break;
                if (await RelayEventAsync(data) is { } error) { (problem, code) = error; break; }
                var left = total - Stopwatch.GetElapsedTime(started);
                if (left <= TimeSpan.Zero) { (problem, code) = ("The model server's answer took longer than the gateway allows.", "upstream_timeout"); break; }
                watch.CancelAfter(TimeSpan.FromSeconds(Math.Min(settings.IdleTimeoutSeconds, left.TotalSeconds)));
                data = await reader.NextAsync(watch.Token);
                if (data is null) { (problem, code) = ("The model server's stream ended early.", "upstream_stream_cut"); break; }
            }
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
        {
            (problem, code) = ("The model server stopped sending.", "upstream_timeout");
        }
        catch (Exception e) when (e is IOException or HttpRequestException && !http.RequestAborted.IsCancellationRequested)
        {
            (problem, code) = ("The model server's stream broke off.", "upstream_stream_cut");
        }
        catch (InvalidDataException)
        {
            (problem, code) = ("The model server sent a malformed stream.", "upstream_malformed_stream");
        }

        if (problem is not null)
        {
            upstream.Stats.Count(code!);
            if (upstream.Breaker.Failure()) log.LogWarning("upstream {Upstream}: circuit breaker opened", upstream.Name);
            log.LogWarning("upstream {Upstream}: stream cut after the first byte ({Code})", upstream.Name, code);
            charge.Delivered(request);
            await SendAsync(new JsonObject
            {
                ["error"] = new JsonObject { ["message"] = problem, ["type"] = ErrorTypes.Server, ["param"] = null, ["code"] = code },
            });
            return null;
        }

        if (usage is { } exact) charge.Exact(exact);
        else charge.Delivered(request);
        if (request.IncludeUsage && !usageSent)
            await SendAsync(Chunk([], RelayRequest.UsageObject(charge.Prompt, charge.Completion, charge.Estimated)));
        await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
        upstream.Stats.Count("ok");
        upstream.Breaker.Success();
        return null;
    }

    UpstreamFailure Retry(string outcome, UpstreamFailure failure)
    {
        upstream.Stats.Count(outcome);
        charge.Upstream = null; // nothing was delivered from this one
        if (upstream.Breaker.Failure()) log.LogWarning("upstream {Upstream}: circuit breaker opened", upstream.Name);
        return failure;
    }

    /// <summary>Passes one event on (or keeps it back); a reason to cut the stream when the event is not what it should be.</summary>
    async Task<(string Message, string Code)?> RelayEventAsync(string data)
    {
        JsonObject? chunk;
        try { chunk = JsonNode.Parse(data) as JsonObject; }
        catch (JsonException) { chunk = null; }
        if (chunk is null) return ("The model server sent a malformed stream.", "upstream_malformed_stream");
        if (chunk["error"] is JsonObject) return ("The model server failed while answering.", "upstream_error");

        var reported = RelayRequest.Usage(chunk["usage"]);
        if (reported is not null) usage = reported; // the last usage object counts, never a sum
        var choices = chunk["choices"] as JsonArray ?? [];
        if (choices.Count == 0)
        {
            if (reported is null || !request.IncludeUsage) return null;
            usageSent = true;
        }
        else
        {
            foreach (var choice in choices)
            {
                var text = request.Text(choice);
                if (string.IsNullOrEmpty(text)) continue;
                // Every chunk with text carries at least one token: more such chunks than max_tokens is an upstream out of bounds.
                if (++contentChunks > (long)request.MaxTokens * request.Choices)
                    return ("The model server went past max_tokens.", "upstream_exceeded_max_tokens");
                request.Delivered.Append(text);
            }
            if (!request.IncludeUsage) chunk.Remove("usage");
            else if (reported is not null) usageSent = true;
            if (request.Templated) chunk["choices"] = request.ChatChoices(choices, delta: true, firstText: !textSent);
            textSent |= request.Delivered.Length > 0;
        }
        if (request.Templated) chunk["object"] = "chat.completion.chunk";
        chunk["id"] = request.Id;
        chunk["model"] = request.ClientModel;
        await SendAsync(chunk);
        return null;
    }

    JsonObject Chunk(JsonArray choices, JsonObject usageObject) => new()
    {
        ["id"] = request.Id,
        ["object"] = request.Chat ? "chat.completion.chunk" : "text_completion",
        ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["model"] = request.ClientModel,
        ["choices"] = choices,
        ["usage"] = usageObject,
    };

    async Task SendAsync(JsonObject chunk)
    {
        await http.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}
