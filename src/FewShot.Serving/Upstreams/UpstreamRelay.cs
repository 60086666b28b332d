using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Serving.Api;
using FewShot.Serving.Chat;
using FewShot.Serving.Hosting;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FewShot.Serving.Upstreams;

/// <summary>
/// Serves a request for an upstream model: admission through the same <see cref="IGenerationGate"/> as in-process models
/// (reserving prompt + max_tokens at the model's price), then upstreams in the router's order until one answers. A failure
/// before anything reached the client (connect error, 429, 502/503/504, first-byte timeout) moves on to the next upstream;
/// after the first byte there is no retry. The lease is charged once with the upstream's last usage object, or with our
/// count of what was delivered (marked estimated) when there is none or the answer broke off.
/// </summary>
public sealed class UpstreamRelay(UpstreamRouter router, IGenerationGate gate, ChatModes modes, IOptions<ServingOptions> options, ILogger<UpstreamRelay> log)
{
    const int MaxResponseBytes = 16 << 20;

    public bool Serves(string model) => router.Serves(model);

    public async Task HandleAsync(HttpContext http, JsonObject body, string model, bool chat)
    {
        RelayRequest request;
        IGenerationLease lease;
        try
        {
            var candidates = router.Candidates(model);
            if (candidates.Length == 0) throw ApiException.UnknownModel(model);
            // One price per model name: the dearest of its upstreams, so a reservation always covers the charge.
            var priced = candidates.MaxBy(c => c.Model.Price?.Micros(1000, 1000) ?? 0)!.Model;
            request = RelayRequest.Prepare(body, model, priced, chat, modes, options.Value.MaxChoices);
            switch (await gate.AdmitAsync(http, request.Info, http.RequestAborted))
            {
                case GateDecision.Rejected r:
                    await r.Error.ToResult().ExecuteAsync(http);
                    return;
                case GateDecision.Admitted a: lease = a.Lease; break;
                default: throw new InvalidOperationException("unknown gate decision");
            }
        }
        catch (ApiException e)
        {
            await e.ToResult().ExecuteAsync(http);
            return;
        }

        var charge = new Charge();
        try
        {
            var tried = new HashSet<Upstream>();
            UpstreamFailure? failure = null;
            while (true)
            {
                var route = router.Choose(model, tried, out var retryAfter);
                if (route is null)
                {
                    await (failure ?? UpstreamFailure.Unavailable(retryAfter)).ToException().ToResult().ExecuteAsync(http);
                    return;
                }
                tried.Add(route.Upstream);
                if (!route.Upstream.TryEnter())
                {
                    route.Upstream.Breaker.Abandon();
                    failure ??= UpstreamFailure.Busy;
                    continue;
                }
                try
                {
                    failure = await AttemptAsync(http, request, route, charge);
                    if (failure is null) return;
                    log.LogWarning("upstream {Upstream} failed before the first byte ({Code}); trying another", route.Upstream.Name, failure.Code);
                }
                finally { route.Upstream.Leave(); }
            }
        }
        catch (Exception e) when (http.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away: disposing the upstream response (in AttemptAsync) closed that request too.
            charge.Delivered(request);
        }
        finally
        {
            if (charge.Upstream is { } upstream)
            {
                // The ledger caps a charge at its reservation: say so, since the operator's TemplateTokens (or MaxTokens) is then too small.
                if ((long)charge.Prompt + charge.Completion > request.Info.WorstCaseTokens)
                    log.LogWarning("upstream {Upstream} reported {Tokens} tokens for {Model}, more than the {Reserved} reserved: charged {Reserved}; raise the model's TemplateTokens",
                        upstream.Name, (long)charge.Prompt + charge.Completion, request.Model.Name, request.Info.WorstCaseTokens, request.Info.WorstCaseTokens);
                lease.ChargeUpstream(upstream.Name, charge.Prompt, charge.Completion, charge.Estimated);
                upstream.Stats.Tokens(charge.Prompt, charge.Completion, charge.Estimated);
            }
            await lease.DisposeAsync();
        }
    }

    /// <summary>What the request is charged, filled in by whichever upstream answered.</summary>
    internal sealed class Charge
    {
        public Upstream? Upstream;
        public int Prompt, Completion;
        public bool Estimated;

        public void Exact((int Prompt, int Completion) usage) => (Prompt, Completion, Estimated) = (usage.Prompt, usage.Completion, false);

        /// <summary>Our count: the prompt as we estimated it, and the text that reached the client.</summary>
        public void Delivered(RelayRequest request)
        {
            if (Upstream is null || !Estimated && Completion > 0) return;
            (Prompt, Completion, Estimated) = (request.PromptTokens, request.DeliveredTokens(), true);
        }
    }

    /// <summary>One try on one upstream; null when it answered the client (well or with a final error), else why to try the next.</summary>
    async Task<UpstreamFailure?> AttemptAsync(HttpContext http, RelayRequest request, UpstreamRoute route, Charge charge)
    {
        var upstream = route.Upstream;
        var settings = upstream.Settings;
        using var watch = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        watch.CancelAfter(TimeSpan.FromSeconds(settings.FirstByteTimeoutSeconds));
        var started = Stopwatch.GetTimestamp();
        using var message = upstream.Request(HttpMethod.Post, request.UpstreamPath, request.Content(route.Model));
        HttpResponseMessage response;
        try { response = await upstream.Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, watch.Token); }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested) { return Failed(upstream, "timeout", UpstreamFailure.FirstByteTimeout); }
        catch (HttpRequestException) { return Failed(upstream, "unreachable", UpstreamFailure.Unreachable); }
        catch (OperationCanceledException) { upstream.Breaker.Abandon(); throw; }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (status == 429)
            {
                upstream.Stats.Count("rate_limited");
                upstream.Breaker.Abandon();
                return UpstreamFailure.FromStatus(429, RetryAfter(response));
            }
            if (status is 502 or 503 or 504) return Failed(upstream, $"status_{status}", UpstreamFailure.FromStatus(status, RetryAfter(response)));
            if (status is < 200 or > 299)
            {
                await PassErrorAsync(http, upstream, response, watch.Token);
                return null;
            }
            charge.Upstream = upstream;
            if (request.Stream)
                return await new StreamRelay(http, request, upstream, charge, log).RunAsync(response, watch, started);
            return await RelayOneAsync(http, request, upstream, response, charge, watch.Token, started);
        }
    }

    UpstreamFailure Failed(Upstream upstream, string outcome, UpstreamFailure failure)
    {
        upstream.Stats.Count(outcome);
        if (upstream.Breaker.Failure()) log.LogWarning("upstream {Upstream}: circuit breaker opened", upstream.Name);
        return failure;
    }

    static TimeSpan? RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter?.Delta ?? (response.Headers.RetryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : null);

    /// <summary>
    /// A non-retryable error: 4xx keeps its status and the upstream's message (scrubbed of its address and key), since it
    /// is about the request; anything else is the server's fault and becomes 502.
    /// </summary>
    async Task PassErrorAsync(HttpContext http, Upstream upstream, HttpResponseMessage response, CancellationToken cancel)
    {
        var status = (int)response.StatusCode;
        string? message = null;
        try
        {
            var text = await ReadBoundedAsync(response, 64 * 1024, cancel);
            message = JsonNode.Parse(text)?["error"]?["message"]?.GetValue<string>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or IOException or HttpRequestException or InvalidDataException) { }
        if (status is >= 400 and < 500 and not (401 or 403 or 407))
        {
            upstream.Stats.Count($"status_{status}");
            upstream.Breaker.Success();
            var text = message is null ? $"The model server rejected the request (status {status})." : upstream.Scrub(message);
            await new ApiException(status, ErrorTypes.InvalidRequest, text, null, "upstream_rejected").ToResult().ExecuteAsync(http);
            return;
        }
        if (status is 401 or 403 or 407) log.LogError("upstream {Upstream} refused the gateway's credentials (status {Status})", upstream.Name, status);
        var failure = Failed(upstream, $"status_{status}", UpstreamFailure.FromStatus(status, null));
        await failure.ToException().ToResult().ExecuteAsync(http);
    }

    /// <summary>A non-streamed answer: read whole (bounded, under the first-byte timeout), our id and the client's model name set, usage made sure of.</summary>
    async Task<UpstreamFailure?> RelayOneAsync(HttpContext http, RelayRequest request, Upstream upstream, HttpResponseMessage response, Charge charge,
        CancellationToken cancel, long started)
    {
        string text;
        try { text = await ReadBoundedAsync(response, MaxResponseBytes, cancel); }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested) { charge.Upstream = null; return Failed(upstream, "timeout", UpstreamFailure.FirstByteTimeout); }
        catch (Exception e) when (e is IOException or HttpRequestException) { charge.Upstream = null; return Failed(upstream, "unreachable", UpstreamFailure.Unreachable); }
        catch (InvalidDataException) { text = ""; }
        upstream.Stats.FirstByte.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);

        JsonObject? json = null;
        try { json = JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { }
        if (json?["choices"] is not JsonArray choices)
        {
            // Nothing reached the client: nothing is charged.
            charge.Upstream = null;
            Failed(upstream, "invalid_response", UpstreamFailure.Invalid);
            await UpstreamFailure.Invalid.ToException().ToResult().ExecuteAsync(http);
            return null;
        }
        foreach (var choice in choices) request.Delivered.Append(request.Text(choice));
        if (RelayRequest.Usage(json["usage"]) is { } usage) charge.Exact(usage);
        else
        {
            charge.Delivered(request);
            json["usage"] = RelayRequest.UsageObject(charge.Prompt, charge.Completion, estimated: true);
        }
        json["id"] = request.Id;
        json["model"] = request.ClientModel;
        if (request.Templated)
        {
            json["object"] = "chat.completion";
            json["choices"] = request.ChatChoices(choices, delta: false, firstText: true);
        }
        upstream.Stats.Count("ok");
        upstream.Breaker.Success();
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(json.ToJsonString(), http.RequestAborted);
        return null;
    }

    static async Task<string> ReadBoundedAsync(HttpResponseMessage response, int limit, CancellationToken cancel)
    {
        if (response.Content.Headers.ContentLength > limit) throw new InvalidDataException("response too large");
        await using var stream = await response.Content.ReadAsStreamAsync(cancel);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancel)) > 0)
        {
            if (buffer.Length + read > limit) throw new InvalidDataException("response too large");
            buffer.Write(chunk, 0, read);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
