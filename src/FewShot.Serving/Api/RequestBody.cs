using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace FewShot.Serving.Api;

/// <summary>
/// Reads a JSON request body under a size limit and the typed fields of OpenAI requests, turning every problem into an
/// <see cref="ApiException"/> that names the field. Unknown fields are ignored, as OpenAI does.
/// </summary>
public static class RequestBody
{
    public static async Task<JsonObject> ReadObjectAsync(HttpRequest request, int maxBytes, CancellationToken cancel)
    {
        if (request.ContentLength > maxBytes) throw TooLarge(maxBytes);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancel)) > 0)
        {
            if (buffer.Length + read > maxBytes) throw TooLarge(maxBytes);
            buffer.Write(chunk, 0, read);
        }
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw ApiException.Invalid("The request body is not valid UTF-8.", null, "invalid_json");
        JsonNode? node;
        try { node = JsonNode.Parse(bytes); }
        catch (JsonException e)
        {
            throw ApiException.Invalid($"We could not parse the JSON body of your request ({e.Message}). The body must be valid JSON in UTF-8.", null, "invalid_json");
        }
        catch (ArgumentException e)
        {
            throw ApiException.Invalid($"We could not parse the JSON body of your request ({e.Message}).", null, "invalid_json");
        }
        var body = node as JsonObject ?? throw ApiException.Invalid("The request body must be a JSON object.", null, "invalid_json");
        Check(body, "");
        return body;
    }

    // Walks the whole body once, so that a value System.Text.Json parses but cannot hand out later (a lone UTF-16
    // surrogate such as "\ud800", a number beyond double, a repeated key) is a 400 naming its field, not a 500.
    static void Check(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject o:
                List<KeyValuePair<string, JsonNode?>> properties;
                try { properties = [.. o]; }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException)
                {
                    throw ApiException.Invalid($"Invalid JSON object{(path.Length > 0 ? $" in '{path}'" : "")}: a key is repeated or is not valid Unicode.", path.Length > 0 ? path : null, "invalid_json");
                }
                foreach (var (key, value) in properties) Check(value, path.Length == 0 ? key : $"{path}.{key}");
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++) Check(a[i], $"{path}[{i}]");
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                try { v.GetValue<string>(); }
                catch (InvalidOperationException)
                {
                    throw ApiException.Invalid($"Invalid value for '{path}': the string is not valid Unicode (a lone surrogate such as \\ud800).", path, "invalid_value");
                }
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                if (!v.TryGetValue<double>(out var number) || !double.IsFinite(number))
                    throw ApiException.Invalid($"Invalid value for '{path}': the number is out of range.", path, "invalid_value");
                break;
        }
    }

    static ApiException TooLarge(int maxBytes) =>
        new(StatusCodes.Status413RequestEntityTooLarge, "invalid_request_error", $"The request body is larger than the limit of {maxBytes} bytes.", null, "request_too_large");

    public static string RequiredString(JsonObject body, string name) =>
        OptionalString(body, name) ?? throw ApiException.Invalid($"Missing required parameter: '{name}'.", name, "missing_required_parameter");

    public static string? OptionalString(JsonObject body, string name) => body[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        var other => throw WrongType(name, "a string", other),
    };

    public static double? OptionalNumber(JsonObject body, string name, double min, double max)
    {
        var node = body[name];
        if (node is null) return null;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) throw WrongType(name, "a number", node);
        var value = v.GetValue<double>();
        if (value < min || value > max || double.IsNaN(value))
            throw ApiException.Invalid($"Invalid value for '{name}': {value} is not between {min} and {max}.", name, "invalid_value");
        return value;
    }

    public static long? OptionalInteger(JsonObject body, string name, long min, long max)
    {
        var node = body[name];
        if (node is null) return null;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue<long>(out var value))
        {
            if (node is JsonValue n && n.GetValueKind() == JsonValueKind.Number && n.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15)
                value = (long)d;
            else throw WrongType(name, "an integer", node);
        }
        if (value < min || value > max)
            throw ApiException.Invalid($"Invalid value for '{name}': {value} is not between {min} and {max}.", name, "invalid_value");
        return value;
    }

    public static bool OptionalBool(JsonObject body, string name) => body[name] switch
    {
        null => false,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        var other => throw WrongType(name, "a boolean", other),
    };

    /// <summary>"stop": a string or an array of up to 4 strings.</summary>
    public static string[] Stop(JsonObject body)
    {
        var node = body["stop"];
        if (node is null) return [];
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return [v.GetValue<string>()];
        if (node is JsonArray array)
        {
            if (array.Count > 4) throw ApiException.Invalid("Invalid value for 'stop': at most 4 stop sequences are allowed.", "stop", "invalid_value");
            return array.Select((item, i) => item is JsonValue s && s.GetValueKind() == JsonValueKind.String
                ? s.GetValue<string>()
                : throw WrongType($"stop[{i}]", "a string", item)).ToArray();
        }
        throw WrongType("stop", "a string or an array of strings", node);
    }

    /// <summary>"stream_options.include_usage".</summary>
    public static bool IncludeUsage(JsonObject body) => body["stream_options"] switch
    {
        null => false,
        JsonObject options => OptionalBool(options, "include_usage"),
        var other => throw WrongType("stream_options", "an object", other),
    };

    public static ApiException WrongType(string name, string expected, JsonNode? got) =>
        ApiException.Invalid($"Invalid type for '{name}': expected {expected}, but got {Describe(got)} instead.", name, "invalid_type");

    static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            _ => "null",
        },
        _ => "a value",
    };
}
