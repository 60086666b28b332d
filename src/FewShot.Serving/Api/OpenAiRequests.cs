using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Serving.Hosting;
using Microsoft.Extensions.AI;

namespace FewShot.Serving.Api;

/// <summary>The fields shared by /v1/completions and /v1/chat/completions, checked and typed.</summary>
public sealed record GenerationParameters(string Model, ChatOptions Options, int Choices, bool Stream, bool IncludeUsage, int? MaxTokens);

/// <summary>Parses OpenAI request bodies into <see cref="GenerationParameters"/>, messages or a prompt.</summary>
public static class OpenAiRequests
{
    public static GenerationParameters Parameters(JsonObject body, ServingOptions limits, int contextLength)
    {
        var model = RequestBody.RequiredString(body, "model");
        var maxTokens = RequestBody.OptionalInteger(body, "max_completion_tokens", 1, contextLength - 1)
            ?? RequestBody.OptionalInteger(body, "max_tokens", 1, contextLength - 1);
        var options = new ChatOptions
        {
            ModelId = model,
            MaxOutputTokens = (int?)maxTokens,
            Temperature = (float?)RequestBody.OptionalNumber(body, "temperature", 0, 2),
            // top_p = 0 means "only the most likely token"; the sampler wants a positive threshold.
            TopP = RequestBody.OptionalNumber(body, "top_p", 0, 1) is { } p ? (float)Math.Max(p, 1e-6) : null,
            Seed = RequestBody.OptionalInteger(body, "seed", long.MinValue, long.MaxValue),
            StopSequences = RequestBody.Stop(body),
        };
        var mode = RequestBody.OptionalString(body, "mode");
        if (mode is not null) options.AdditionalProperties = new AdditionalPropertiesDictionary { ["mode"] = mode };
        var n = (int)(RequestBody.OptionalInteger(body, "n", 1, limits.MaxChoices) ?? 1);
        var stream = RequestBody.OptionalBool(body, "stream");
        return new GenerationParameters(model, options, n, stream, stream && RequestBody.IncludeUsage(body), (int?)maxTokens);
    }

    /// <summary>"messages": a non-empty array of {role, content}, content a string or an array of text parts.</summary>
    public static List<ChatMessage> Messages(JsonObject body)
    {
        var node = body["messages"] ?? throw ApiException.Invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        if (node is not JsonArray array) throw RequestBody.WrongType("messages", "an array", node);
        if (array.Count == 0) throw ApiException.Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array");
        var messages = new List<ChatMessage>();
        for (var i = 0; i < array.Count; i++)
        {
            var param = $"messages[{i}]";
            if (array[i] is not JsonObject message) throw RequestBody.WrongType(param, "an object", array[i]);
            var role = RequestBody.OptionalString(message, "role") ?? throw ApiException.Invalid($"Missing required parameter: '{param}.role'.", $"{param}.role", "missing_required_parameter");
            var chatRole = role switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                _ => throw ApiException.Invalid($"Invalid value for '{param}.role': '{role}' (supported: system, developer, user, assistant).", $"{param}.role", "invalid_value"),
            };
            messages.Add(new ChatMessage(chatRole, Content(message["content"], $"{param}.content")));
        }
        return messages;
    }

    static string Content(JsonNode? node, string param)
    {
        switch (node)
        {
            case null: return "";
            case JsonValue v when v.GetValueKind() == JsonValueKind.String: return v.GetValue<string>();
            case JsonArray parts:
                return string.Concat(parts.Select((part, i) => part is JsonObject o && RequestBody.OptionalString(o, "type") == "text"
                    ? RequestBody.OptionalString(o, "text") ?? ""
                    : throw ApiException.Invalid($"Invalid value for '{param}[{i}]': only text parts are supported.", $"{param}[{i}]", "invalid_value")));
            default: throw RequestBody.WrongType(param, "a string or an array of text parts", node);
        }
    }

    /// <summary>"prompt": a string, or an array holding one string.</summary>
    public static string Prompt(JsonObject body) => body["prompt"] switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonArray { Count: 1 } a when a[0] is JsonValue s && s.GetValueKind() == JsonValueKind.String => s.GetValue<string>(),
        JsonArray => throw ApiException.Invalid("Invalid value for 'prompt': this server takes one prompt per request (a string).", "prompt", "invalid_value"),
        var other => throw RequestBody.WrongType("prompt", "a string", other),
    };
}
