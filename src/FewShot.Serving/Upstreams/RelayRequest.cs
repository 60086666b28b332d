using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Model.Tokenization;
using FewShot.Serving.Api;
using FewShot.Serving.Chat;
using FewShot.Serving.Pipeline;

namespace FewShot.Serving.Upstreams;

/// <summary>
/// A client's request on its way to an upstream: the body as it will be forwarded (max_tokens set and capped, the chat
/// mode turned into a system message, usage asked for), our token estimate of the prompt, and what was delivered so far.
/// </summary>
public sealed class RelayRequest
{
    /// <summary>r50k_base: the estimate where an upstream reports no usage (GPT-3's own tokenizer).</summary>
    static readonly Gpt2Tokenizer Tokenizer = new();

    public required JsonObject Body { get; init; }
    public required string ClientModel { get; init; }
    public required UpstreamModel Model { get; init; }
    /// <summary>The client asked for chat completions (and gets chat's shapes back).</summary>
    public required bool Chat { get; init; }
    /// <summary>A chat for a base model: rendered with the mode's few-shot template and sent to the upstream's /v1/completions.</summary>
    public required bool Templated { get; init; }
    public string UpstreamPath => Chat && !Templated ? "chat/completions" : "completions";
    public required bool Stream { get; init; }
    public required bool IncludeUsage { get; init; }
    public required int MaxTokens { get; init; }
    public required int Choices { get; init; }
    /// <summary>Our tokenizer's count of the prompt: what is charged when the upstream reports no usage (counted only then).</summary>
    public int PromptTokens => PromptCount.Value;
    public required Lazy<int> PromptCount { get; init; }
    /// <summary>
    /// What is reserved for the prompt: its UTF-8 bytes (no byte-level BPE token is shorter than a byte, whatever the
    /// upstream's tokenizer) plus the chat template's tokens, so that the reservation covers what the upstream will report.
    /// </summary>
    public required int PromptBound { get; init; }
    public required string? Mode { get; init; }
    public string Id { get; } = "gw-" + Guid.NewGuid().ToString("N")[..24];

    /// <summary>Text sent to the client so far (what is charged when the upstream reports no usage or the stream breaks).</summary>
    public StringBuilder Delivered { get; } = new();

    public GenerationRequestInfo Info => new(Model.Name, Mode, PromptBound, MaxTokens, Choices, Model.Price);

    /// <summary>Checks the fields the gateway relies on and makes the body ready to forward (the model's id is set per upstream).</summary>
    public static RelayRequest Prepare(JsonObject body, string clientModel, UpstreamModel model, bool chat, ChatModes modes, int maxChoices)
    {
        var n = (int)(RequestBody.OptionalInteger(body, "n", 1, maxChoices) ?? 1);
        var stream = RequestBody.OptionalBool(body, "stream");
        var includeUsage = stream && RequestBody.IncludeUsage(body);
        var field = body.ContainsKey("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        var requested = RequestBody.OptionalInteger(body, field, 1, int.MaxValue);
        var maxTokens = (int)Math.Min(requested ?? model.MaxTokens, model.MaxTokens);
        body[field] = maxTokens; // the upstream may never produce more than was reserved
        if (stream) body["stream_options"] = new JsonObject { ["include_usage"] = true };

        var mode = RequestBody.OptionalString(body, "mode");
        body.Remove("mode");
        ChatMode? chatMode = null;
        if (mode is not null && !modes.TryGet(mode, out chatMode))
            throw ApiException.Invalid($"Unknown mode '{mode}' (available: {string.Join(", ", modes.All.Select(m => m.Id))}).", "mode", "invalid_value");
        var templated = chat && !model.Chat;
        if (templated) RenderFewShot(body, chatMode ?? modes.Default, maxTokens);
        Lazy<int> promptTokens;
        int promptBound, choices = n;
        if (chat && !templated)
        {
            var messages = OpenAiRequests.Messages(body); // validates roles and content
            if (chatMode is not null && !messages.Any(m => m.Role == Microsoft.Extensions.AI.ChatRole.System))
                body["messages"]!.AsArray().Insert(0, new JsonObject { ["role"] = "system", ["content"] = chatMode.Description });
            var sent = OpenAiRequests.Messages(body); // with the mode's system message
            // OpenAI's count: each message costs its content plus a few tokens of framing, and the reply is primed with 3.
            promptTokens = new(() => 3 + sent.Sum(m => 4 + Count(m.Text)));
            promptBound = model.TemplateTokens + sent.Sum(m => 8 + Encoding.UTF8.GetByteCount(m.Text ?? ""));
        }
        else
        {
            var bounds = Prompts(body["prompt"], text => Encoding.UTF8.GetByteCount(text));
            promptTokens = new(() => Math.Max(1, Prompts(body["prompt"], Count).Sum(p => p)));
            promptBound = Math.Max(1, bounds.Sum(p => p));
            choices = n * Math.Max(1, bounds.Count);
        }
        return new RelayRequest
        {
            Body = body, ClientModel = clientModel, Model = model, Chat = chat, Templated = templated, Stream = stream, IncludeUsage = includeUsage,
            MaxTokens = maxTokens, Choices = choices, PromptCount = promptTokens, PromptBound = promptBound, Mode = mode,
        };
    }

    /// <summary>
    /// Turns a chat into a completion for a base model, the way the in-process model is served: the mode's description,
    /// demonstrations and the conversation in its turn markers (<see cref="ChatPromptBuilder"/>), stopping at the next turn.
    /// </summary>
    static void RenderFewShot(JsonObject body, ChatMode mode, int maxTokens)
    {
        var messages = OpenAiRequests.Messages(body);
        var system = messages.Where(m => m.Role == Microsoft.Extensions.AI.ChatRole.System).Select(m => m.Text).Where(t => !string.IsNullOrWhiteSpace(t)).ToList();
        var turns = messages.Where(m => m.Role == Microsoft.Extensions.AI.ChatRole.User || m.Role == Microsoft.Extensions.AI.ChatRole.Assistant)
            .Select(m => new ChatTurn(m.Role == Microsoft.Extensions.AI.ChatRole.User, m.Text ?? "")).ToList();
        if (turns.Count == 0) throw ApiException.Invalid("messages must contain at least one user or assistant message.", "messages", "invalid_value");
        var stops = mode.TurnStops.Concat(RequestBody.Stop(body)).Distinct().Take(4).ToArray();
        body.Remove("messages");
        body["prompt"] = ChatPromptBuilder.Build(mode, system.Count > 0 ? string.Join("\n", system) : null, turns, maxTokens, int.MaxValue - maxTokens, Tokenizer).Text;
        body["stop"] = new JsonArray([.. stops.Select(s => (JsonNode)s)]);
        body["temperature"] ??= mode.Temperature;
        body["top_p"] ??= mode.TopP;
    }

    /// <summary>Token counts of "prompt" (<paramref name="count"/> for text): a string, an array of strings, an array of token ids or of such arrays.</summary>
    static List<int> Prompts(JsonNode? prompt, Func<string, int> count) => prompt switch
    {
        null => [1],
        JsonValue v when v.GetValueKind() == JsonValueKind.String => [count(v.GetValue<string>())],
        JsonArray a when a.All(x => x is JsonValue n && n.GetValueKind() == JsonValueKind.Number) => [a.Count],
        JsonArray a => a.Select((x, i) => x switch
        {
            JsonValue s when s.GetValueKind() == JsonValueKind.String => count(s.GetValue<string>()),
            JsonArray ids => ids.Count,
            _ => throw RequestBody.WrongType($"prompt[{i}]", "a string or an array of token ids", x),
        }).ToList(),
        _ => throw RequestBody.WrongType("prompt", "a string or an array", prompt),
    };

    public static int Count(string? text) => string.IsNullOrEmpty(text) ? 0 : Tokenizer.Encode(text).Length;

    /// <summary>Completion tokens of what was delivered, by our tokenizer.</summary>
    public int DeliveredTokens() => Count(Delivered.ToString());

    /// <summary>The body for one upstream: the same request with that upstream's id for the model.</summary>
    public ByteArrayContent Content(UpstreamModel model)
    {
        Body["model"] = model.Target;
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(Body));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>The generated text in one choice of a response or a chunk (chat: message or delta content; completions: text).</summary>
    public string? Text(JsonNode? choice) => Chat && !Templated
        ? (choice?["delta"] ?? choice?["message"])?["content"] is JsonValue c && c.GetValueKind() == JsonValueKind.String ? c.GetValue<string>() : null
        : choice?["text"] is JsonValue t && t.GetValueKind() == JsonValueKind.String ? t.GetValue<string>() : null;

    /// <summary>A completion's choices in chat's shape (a templated chat): the text as the assistant's message, or as a stream's delta.</summary>
    public JsonArray ChatChoices(JsonArray choices, bool delta, bool firstText) => [.. choices.Select(c =>
    {
        var text = Text(c) ?? "";
        if (firstText || !delta) text = delta ? text.TrimStart() : text.Trim();
        return (JsonNode)new JsonObject
        {
            ["index"] = c?["index"]?.DeepClone() ?? 0,
            [delta ? "delta" : "message"] = delta ? new JsonObject { ["content"] = text } : new JsonObject { ["role"] = "assistant", ["content"] = text },
            ["logprobs"] = null,
            ["finish_reason"] = c?["finish_reason"]?.DeepClone(),
        };
    })];

    /// <summary>An upstream's usage object as (prompt, completion), or null when it is missing or not numbers.</summary>
    public static (int Prompt, int Completion)? Usage(JsonNode? usage)
    {
        if (usage is not JsonObject u) return null;
        return u["prompt_tokens"] is JsonValue p && p.TryGetValue<int>(out var prompt) && u["completion_tokens"] is JsonValue c && c.TryGetValue<int>(out var completion)
               && prompt >= 0 && completion >= 0
            ? (prompt, completion)
            : null;
    }

    public static JsonObject UsageObject(int prompt, int completion, bool estimated)
    {
        var usage = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion };
        if (estimated) usage["estimated"] = true;
        return usage;
    }
}
