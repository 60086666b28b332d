using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace FewShot.Serving.Api;

/// <summary>OpenAI's error body: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public sealed record ErrorBody([property: JsonPropertyName("error")] ErrorDetail Error);

public sealed record ErrorDetail(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("param")] string? Param,
    [property: JsonPropertyName("code")] string? Code);

/// <summary>OpenAI's error types (the "type" field), as its SDKs read them.</summary>
public static class ErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";   // also bad keys, with code invalid_api_key, as OpenAI does
    public const string AccessDenied = "access_denied";
    public const string RateLimit = "rate_limit_exceeded";
    public const string Quota = "insufficient_quota";
    public const string Server = "server_error";
}

/// <summary>
/// The service's one OpenAI-shaped error: thrown while parsing and caught by the handlers, returned by the access gate,
/// written by the firewall middleware. Status, type, message, the offending field (param), a code, and headers such as
/// Retry-After and the x-ratelimit-* family.
/// </summary>
public sealed class ApiException(int status, string type, string message, string? param = null, string? code = null,
    IReadOnlyDictionary<string, string>? headers = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public IReadOnlyDictionary<string, string> Headers { get; } = headers ?? new Dictionary<string, string>();

    public static ApiException Invalid(string message, string? param, string? code = null) =>
        new(StatusCodes.Status400BadRequest, ErrorTypes.InvalidRequest, message, param, code);

    public static ApiException UnknownModel(string model) =>
        new(StatusCodes.Status404NotFound, ErrorTypes.InvalidRequest, $"The model '{model}' does not exist or you do not have access to it.", "model", "model_not_found");

    public static ApiException Busy(string message, int retryAfterSeconds) =>
        new(StatusCodes.Status503ServiceUnavailable, ErrorTypes.Server, message, null, "server_overloaded",
            new Dictionary<string, string> { ["Retry-After"] = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    public ApiErrorResult ToResult() => new(this);

    /// <summary>Writes the error as the response (middleware), unless the response has started already.</summary>
    public Task WriteAsync(HttpContext http) => http.Response.HasStarted ? Task.CompletedTask : ToResult().ExecuteAsync(http);
}

/// <summary>Writes an <see cref="ApiException"/> with its status and headers (Retry-After, rate-limit headers from the gate).</summary>
public sealed class ApiErrorResult(ApiException error) : IResult
{
    public Task ExecuteAsync(HttpContext http)
        {
            foreach (var (name, value) in error.Headers) http.Response.Headers[name] = value;
            return TypedResults.Json(new ErrorBody(new ErrorDetail(error.Message, error.Type, error.Param, error.Code)), statusCode: error.Status).ExecuteAsync(http);
        }
}
