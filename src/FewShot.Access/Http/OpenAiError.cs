using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace FewShot.Access.Http;

/// <summary>Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, so SDKs surface them as they would OpenAI's.</summary>
public static class OpenAiError
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "invalid_request_error";  // OpenAI reports bad keys with this type and code invalid_api_key
    public const string AccessDenied = "access_denied";
    public const string RateLimit = "rate_limit_exceeded";
    public const string Quota = "insufficient_quota";

    public static async Task WriteAsync(HttpContext http, int status, string type, string? code, string message, string? param = null,
        IReadOnlyDictionary<string, string>? headers = null)
    {
        if (http.Response.HasStarted) return;
        http.Response.StatusCode = status;
        if (headers is not null) foreach (var (name, value) in headers) http.Response.Headers[name] = value;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(Json(type, code, message, param), http.RequestAborted);
    }

    public static string Json(string type, string? code, string message, string? param = null) =>
        JsonSerializer.Serialize(new { error = new { message, type, param, code } });

    public static IResult Result(int status, string type, string? code, string message, string? param = null) =>
        Results.Content(Json(type, code, message, param), "application/json", statusCode: status);
}
