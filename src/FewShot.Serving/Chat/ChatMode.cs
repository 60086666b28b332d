using System.Text.Json;
using System.Text.Json.Serialization;

namespace FewShot.Serving.Chat;

/// <summary>One demonstration exchange of a mode: what the user said and what the assistant answered.</summary>
public sealed record ModeExample(
    [property: JsonPropertyName("user")] string User,
    [property: JsonPropertyName("assistant")] string Assistant);

/// <summary>
/// A way of chatting with a base model, the GPT-3 way: a task description, a few demonstration exchanges, and the turn
/// markers that frame each message ("User:" / "Assistant:", as the built-in corpus's dialogues write them). Rendered as
/// a prompt, the model continues the pattern; it stops when it starts the next turn. Loaded from Modes/*.json.
/// </summary>
public sealed record ChatMode
{
    [JsonPropertyName("id")] public string Id { get; init; } = "";
    /// <summary>Names to show in the page, by language ("en", "zh").</summary>
    [JsonPropertyName("title")] public Dictionary<string, string> Title { get; init; } = [];
    [JsonPropertyName("description")] public string Description { get; init; } = "";
    [JsonPropertyName("user")] public string UserMarker { get; init; } = "User";
    [JsonPropertyName("assistant")] public string AssistantMarker { get; init; } = "Assistant";
    [JsonPropertyName("examples")] public ModeExample[] Examples { get; init; } = [];
    [JsonPropertyName("max_tokens")] public int MaxTokens { get; init; } = 200;
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 0.7;
    [JsonPropertyName("top_p")] public double TopP { get; init; } = 0.9;

    /// <summary>
    /// Turn markers a base model learns from dialogue text whatever the mode says: FewShot's built-in corpus writes
    /// "User:" / "Assistant:", GPT-3's chat prompt "Human:" / "AI:".
    /// </summary>
    public static readonly IReadOnlyList<string> CommonMarkers = ["User", "Assistant", "Human", "AI"];

    /// <summary>
    /// Where the model's reply ends: the start of the next turn, by this mode's markers or the common ones, so that no
    /// reply carries a role marker. Word markers ("User:") stop anywhere; short ones ("Q:", "AI:") only at a line's
    /// start, where they cannot be the end of another word.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<string> TurnStops =>
        [.. new[] { UserMarker, AssistantMarker }.Concat(CommonMarkers).Distinct().Select(m => m.Length >= 4 ? $"{m}:" : $"\n{m}:")];

    public static ChatMode Load(string path)
    {
        ChatMode? mode;
        try { mode = JsonSerializer.Deserialize<ChatMode>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid mode file ({e.Message})"); }
        if (mode is null) throw new InvalidDataException($"{path}: empty mode file");
        mode = mode with { Id = mode.Id.Length > 0 ? mode.Id : Path.GetFileNameWithoutExtension(path) };
        Require(mode.Description.Length > 0, path, "description", "must not be empty");
        Require(mode.UserMarker.Length > 0 && !mode.UserMarker.Contains('\n'), path, "user", "must be a one-line turn marker");
        Require(mode.AssistantMarker.Length > 0 && !mode.AssistantMarker.Contains('\n'), path, "assistant", "must be a one-line turn marker");
        Require(mode.UserMarker != mode.AssistantMarker, path, "assistant", "must differ from the user marker");
        Require(mode.MaxTokens > 0, path, "max_tokens", "must be positive");
        Require(mode.Temperature >= 0, path, "temperature", "must be >= 0");
        Require(mode.TopP is > 0 and <= 1, path, "top_p", "must be in (0, 1]");
        return mode;
    }

    static void Require(bool ok, string path, string field, string message)
    {
        if (!ok) throw new InvalidDataException($"{path}: field '{field}' {message}");
    }
}
