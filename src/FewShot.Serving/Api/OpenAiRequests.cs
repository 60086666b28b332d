using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Serving.Hosting;
using Microsoft.Extensions.AI;

namespace FewShot.Serving.Api;

/// <summary>
/// The fields of /v1/completions and /v1/chat/completions, checked and typed. <see cref="Logprobs"/>: alternatives per
/// position (completions' <c>logprobs</c>, chat's <c>top_logprobs</c>); null when log-probabilities were not asked for.
/// <see cref="BestOf"/>: sequences generated per prompt, of which the <see cref="Choices"/> with the highest
/// log-probability per token are returned. <see cref="Echo"/>: the prompt is returned before the completion.
/// </summary>
public sealed record GenerationParameters(string Model, ChatOptions Options, int Choices, bool Stream, bool IncludeUsage, int? MaxTokens)
{
    public int BestOf { get; init; } = Choices;
    public int? Logprobs { get; init; }
    public bool Echo { get; init; }
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
}

/// <summary>One prompt of /v1/completions: text, or token ids.</summary>
public sealed record PromptInput(string? Text, int[]? Ids);

/// <summary>Parses OpenAI request bodies into <see cref="GenerationParameters"/>, messages or a prompt.</summary>
public static class OpenAiRequests
{
    /// <summary>Most prompts one completions request may carry (OpenAI's limit for a list of prompts).</summary>
    public const int MaxPrompts = 2048;

    public static GenerationParameters Parameters(JsonObject body, ServingOptions limits, int contextLength, int vocabSize, bool chat)
    {
        var model = RequestBody.RequiredString(body, "model");
        // Completions take max_tokens 0: with echo and logprobs that scores the prompt and generates nothing.
        var least = chat ? 1 : 0;
        var maxTokens = RequestBody.OptionalInteger(body, "max_completion_tokens", least, contextLength - 1)
            ?? RequestBody.OptionalInteger(body, "max_tokens", least, contextLength - 1);
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
        var bestOf = chat ? n : (int)(RequestBody.OptionalInteger(body, "best_of", 1, limits.MaxChoices) ?? n);
        if (bestOf < n) throw ApiException.Invalid($"Invalid value for 'best_of': {bestOf} must be at least n ({n}).", "best_of", "invalid_value");
        if (stream && bestOf > n) throw ApiException.Invalid("Invalid value for 'best_of': best_of greater than n cannot be streamed.", "best_of", "invalid_value");
        int? logprobs;
        if (chat)
        {
            var wanted = RequestBody.OptionalBool(body, "logprobs");
            var top = (int?)RequestBody.OptionalInteger(body, "top_logprobs", 0, Engine.Logprobs.MaxTop);
            if (top is not null && !wanted)
                throw ApiException.Invalid("Invalid value for 'top_logprobs': it needs 'logprobs' set to true.", "top_logprobs", "invalid_value");
            logprobs = wanted ? top ?? 0 : null;
        }
        else logprobs = (int?)RequestBody.OptionalInteger(body, "logprobs", 0, 5);
        return new GenerationParameters(model, options, n, stream, stream && RequestBody.IncludeUsage(body), (int?)maxTokens)
        {
            BestOf = bestOf,
            Logprobs = logprobs,
            Echo = !chat && RequestBody.OptionalBool(body, "echo"),
            LogitBias = LogitBias(body, vocabSize),
        };
    }

    /// <summary>"logit_bias": {"token id": bias in [-100, 100]}, added to those tokens' logits before sampling.</summary>
    static Dictionary<int, float>? LogitBias(JsonObject body, int vocabSize)
    {
        var node = body["logit_bias"];
        if (node is null) return null;
        if (node is not JsonObject map) throw RequestBody.WrongType("logit_bias", "an object mapping token ids to numbers", node);
        var bias = new Dictionary<int, float>();
        foreach (var (key, value) in map)
        {
            var param = $"logit_bias.{key}";
            if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id >= vocabSize)
                throw ApiException.Invalid($"Invalid key in 'logit_bias': '{key}' is not a token id (0 to {vocabSize - 1}).", "logit_bias", "invalid_value");
            if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) throw RequestBody.WrongType(param, "a number", value);
            var number = v.GetValue<double>();
            if (number is < -100 or > 100)
                throw ApiException.Invalid($"Invalid value for '{param}': {number} is not between -100 and 100.", "logit_bias", "invalid_value");
            bias[id] = (float)number;
        }
        return bias;
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

    /// <summary>
    /// "prompt": a string, an array of strings, an array of token ids, or an array of arrays of token ids - each prompt
    /// its own choice (or n of them), in order. Absent: one empty prompt.
    /// </summary>
    public static List<PromptInput> Prompts(JsonObject body, int vocabSize)
    {
        const string expected = "a string, an array of strings, an array of token ids or an array of arrays of token ids";
        var node = body["prompt"];
        switch (node)
        {
            case null: return [new PromptInput("", null)];
            case JsonValue v when v.GetValueKind() == JsonValueKind.String: return [new PromptInput(v.GetValue<string>(), null)];
            case JsonArray { Count: 0 }:
                throw ApiException.Invalid("Invalid 'prompt': empty array. Expected an array with minimum length 1.", "prompt", "empty_array");
            case JsonArray a when a.Count > MaxPrompts:
                throw ApiException.Invalid($"Invalid 'prompt': {a.Count} prompts; at most {MaxPrompts} per request.", "prompt", "invalid_value");
            case JsonArray a when a[0] is JsonValue first && first.GetValueKind() == JsonValueKind.Number:
                return [new PromptInput(null, TokenIds(a, "prompt", vocabSize))];
            case JsonArray a:
                return [.. a.Select((item, i) => item switch
                {
                    JsonValue s when s.GetValueKind() == JsonValueKind.String => new PromptInput(s.GetValue<string>(), null),
                    JsonArray ids => new PromptInput(null, TokenIds(ids, $"prompt[{i}]", vocabSize)),
                    _ => throw RequestBody.WrongType($"prompt[{i}]", "a string or an array of token ids", item),
                })];
            default: throw RequestBody.WrongType("prompt", expected, node);
        }
    }

    static int[] TokenIds(JsonArray array, string param, int vocabSize)
    {
        if (array.Count == 0) throw ApiException.Invalid($"Invalid '{param}': empty array of token ids.", param, "empty_array");
        var ids = new int[array.Count];
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue<int>(out var id))
                throw RequestBody.WrongType($"{param}[{i}]", "a token id (an integer)", array[i]);
            if (id < 0 || id >= vocabSize)
                throw ApiException.Invalid($"Invalid value for '{param}[{i}]': {id} is not a token id (0 to {vocabSize - 1}).", $"{param}[{i}]", "invalid_value");
            ids[i] = id;
        }
        return ids;
    }
}
