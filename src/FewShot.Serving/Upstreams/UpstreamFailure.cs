using System.Globalization;
using FewShot.Serving.Api;
using Microsoft.AspNetCore.Http;

namespace FewShot.Serving.Upstreams;

/// <summary>Why an upstream could not answer, as the client will see it if no other upstream can: status, code, message, Retry-After.</summary>
public sealed record UpstreamFailure(int Status, string Code, string Message, TimeSpan? RetryAfter = null)
{
    public static readonly UpstreamFailure Unreachable = new(StatusCodes.Status502BadGateway, "upstream_unreachable", "The model server could not be reached.");
    public static readonly UpstreamFailure FirstByteTimeout = new(StatusCodes.Status504GatewayTimeout, "upstream_timeout", "The model server did not answer in time.");
    public static readonly UpstreamFailure Invalid = new(StatusCodes.Status502BadGateway, "upstream_invalid_response", "The model server sent a response that is not valid.");
    public static readonly UpstreamFailure Busy = new(StatusCodes.Status503ServiceUnavailable, "upstream_busy",
        "Every model server for this model is at its limit of concurrent requests; try again shortly.", TimeSpan.FromSeconds(1));

    public static UpstreamFailure Unavailable(TimeSpan retryAfter) => new(StatusCodes.Status503ServiceUnavailable, "model_unavailable",
        "No model server for this model is available right now; try again later.", retryAfter);

    public static UpstreamFailure FromStatus(int status, TimeSpan? retryAfter) => status switch
    {
        429 => new(429, "rate_limit_exceeded", "The model server is rate limited; try again shortly.", retryAfter ?? TimeSpan.FromSeconds(1)),
        503 => new(503, "upstream_unavailable", "The model server is unavailable; try again shortly.", retryAfter ?? TimeSpan.FromSeconds(1)),
        504 => new(504, "upstream_timeout", "The model server timed out."),
        _ => new(502, "upstream_error", $"The model server failed (status {status})."),
    };

    public ApiException ToException()
    {
        var type = Status == 429 ? ErrorTypes.RateLimit : Status < 500 ? ErrorTypes.InvalidRequest : ErrorTypes.Server;
        var headers = new Dictionary<string, string>();
        if (RetryAfter is { } wait) headers["Retry-After"] = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return new ApiException(Status, type, Message, null, Code, headers);
    }
}
