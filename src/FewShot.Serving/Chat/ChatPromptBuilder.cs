using System.Text;
using FewShot.Model.Tokenization;

namespace FewShot.Serving.Chat;

/// <summary>A conversation turn as the prompt sees it: who spoke (user or assistant) and what was said.</summary>
public sealed record ChatTurn(bool FromUser, string Text);

/// <summary>A rendered chat prompt: its text, token ids, and how many of the oldest turns had to be dropped to fit.</summary>
public sealed record ChatPrompt(string Text, int[] Ids, int DroppedTurns);

/// <summary>The prompt, even without its oldest turns, plus the tokens to generate do not fit the model's context.</summary>
public sealed class ContextLengthExceededException(string message) : ArgumentException(message);

/// <summary>
/// Renders a conversation for a base model:
/// <code>
/// {description}
///
/// User: {demo question}
/// Assistant: {demo answer}
///
/// User: {oldest kept user turn}
/// Assistant: {its answer}
/// User: {latest}
/// Assistant:
/// </code>
/// When prompt + max tokens outgrow the context, the oldest conversation turns go first; the description and the
/// demonstrations always stay, and so does the latest turn.
/// </summary>
public static class ChatPromptBuilder
{
    public static ChatPrompt Build(ChatMode mode, string? description, IReadOnlyList<ChatTurn> turns, int maxTokens, int contextLength, ITokenizer tokenizer)
    {
        if (turns.Count == 0) throw new ArgumentException("the conversation has no messages");
        var header = Header(mode, description);
        for (var dropped = 0; dropped < turns.Count; dropped++)
        {
            var text = header + Conversation(mode, turns.Skip(dropped));
            var ids = tokenizer.Encode(text);
            if (ids.Length + maxTokens <= contextLength) return new ChatPrompt(text, ids, dropped);
        }
        var minimal = tokenizer.Encode(header + Conversation(mode, turns.Skip(turns.Count - 1))).Length;
        throw new ContextLengthExceededException(
            $"This model's maximum context length is {contextLength} tokens. However, you requested {minimal + maxTokens} tokens " +
            $"({minimal} in the mode's description, demonstrations and your latest message, {maxTokens} for the completion). " +
            "Please reduce the length of the message or of max_tokens.");
    }

    static string Header(ChatMode mode, string? description)
    {
        var text = new StringBuilder((description ?? mode.Description).Trim()).Append("\n\n");
        foreach (var example in mode.Examples)
            text.Append(mode.UserMarker).Append(": ").Append(example.User.Trim()).Append('\n')
                .Append(mode.AssistantMarker).Append(": ").Append(example.Assistant.Trim()).Append("\n\n");
        return text.ToString();
    }

    static string Conversation(ChatMode mode, IEnumerable<ChatTurn> turns)
    {
        var text = new StringBuilder();
        foreach (var turn in turns)
            text.Append(turn.FromUser ? mode.UserMarker : mode.AssistantMarker).Append(": ").Append(turn.Text.Trim()).Append('\n');
        return text.Append(mode.AssistantMarker).Append(':').ToString();
    }
}
