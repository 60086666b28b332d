using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FewShot.Evaluation.Api;

/// <summary>
/// Where the model is served: the OpenAI-style base URL (requests go to BASE/completions), the model name, and the
/// API key (read from the environment by the caller; sent as a bearer token, never written anywhere).
/// </summary>
public sealed record ApiEndpoint(Uri BaseUrl, string Model, string? ApiKey = null)
{
    /// <summary>The base URL as results record it: no credentials, no query.</summary>
    public string Display => new UriBuilder(BaseUrl) { UserName = "", Password = "", Query = "" }.Uri.ToString().TrimEnd('/');
}

/// <summary>
/// Posts completions requests to an OpenAI-compatible server: at most <paramref name="concurrency"/> at a time,
/// retrying connection failures, 429 and 5xx with exponential backoff (honouring Retry-After). Other errors, and
/// failures that outlast the retries, become one-line <see cref="InvalidDataException"/>s naming the server.
/// </summary>
public sealed class ApiClient(ApiEndpoint endpoint, int concurrency = 4, int retries = 6, TimeSpan? timeout = null) : IDisposable
{
    readonly HttpClient http = new() { Timeout = timeout ?? TimeSpan.FromMinutes(5) };
    readonly SemaphoreSlim slots = new(Math.Max(1, concurrency));

    public ApiEndpoint Endpoint => endpoint;
    /// <summary>Requests retried so far (429, 5xx or connection failures).</summary>
    public int Retries => retried;
    int retried;

    Uri Url(string path) => new(endpoint.BaseUrl.ToString().TrimEnd('/') + "/" + path);

    public Task<JsonObject> CompleteAsync(JsonObject request, CancellationToken cancel = default)
    {
        request["model"] = endpoint.Model;
        return SendAsync(HttpMethod.Post, "completions", request.ToJsonString(), cancel);
    }

    /// <summary>The model's context length if the server says (max_model_len: vLLM and FewShot; context_length), else null.</summary>
    public async Task<int?> ContextLengthAsync(CancellationToken cancel = default)
    {
        try
        {
            var card = await SendAsync(HttpMethod.Get, "models/" + Uri.EscapeDataString(endpoint.Model), null, cancel);
            foreach (var name in new[] { "max_model_len", "context_length" })
                if (card[name] is JsonValue v && v.TryGetValue<int>(out var length) && length > 0) return length;
        }
        catch (InvalidDataException) { } // many servers do not list models one by one
        return null;
    }

    async Task<JsonObject> SendAsync(HttpMethod method, string path, string? body, CancellationToken cancel)
    {
        for (var attempt = 0; ; attempt++)
        {
            TimeSpan? wait;
            await slots.WaitAsync(cancel);
            try
            {
                using var message = new HttpRequestMessage(method, Url(path));
                if (body is not null) message.Content = new StringContent(body, Encoding.UTF8, "application/json");
                if (endpoint.ApiKey is { Length: > 0 } key) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                using var response = await http.SendAsync(message, cancel);
                var text = await response.Content.ReadAsStringAsync(cancel);
                if (response.IsSuccessStatusCode) return Parse(text, path);
                var status = (int)response.StatusCode;
                if (status != 429 && status < 500 || attempt >= retries)
                    throw new InvalidDataException($"{endpoint.Display}/{path}: {status} {ErrorMessage(text)}");
                wait = response.Headers.RetryAfter?.Delta;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancel.IsCancellationRequested)
            {
                if (attempt >= retries) throw new InvalidDataException($"{endpoint.Display}/{path}: no answer after {retries + 1} tries ({e.Message})");
                wait = null;
            }
            finally { slots.Release(); }
            Interlocked.Increment(ref retried);
            var backoff = TimeSpan.FromMilliseconds(Math.Min(20_000, 250 * Math.Pow(2, attempt)));
            await Task.Delay(wait is { } w && w > TimeSpan.Zero ? w : backoff, cancel);
        }
    }

    JsonObject Parse(string text, string path)
    {
        try { return JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not an object"); }
        catch (JsonException e) { throw new InvalidDataException($"{endpoint.Display}/{path}: the answer is not a JSON object ({e.Message})"); }
    }

    // OpenAI's {"error": {"message"}} when the body has it, else the body's start.
    static string ErrorMessage(string body)
    {
        try
        {
            if (JsonNode.Parse(body)?["error"]?["message"] is JsonValue m && m.TryGetValue<string>(out var message)) return message;
        }
        catch (JsonException) { }
        return body.Length > 200 ? body[..200] : body;
    }

    public void Dispose()
    {
        http.Dispose();
        slots.Dispose();
    }
}
