using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Tasks;

namespace FewShot.Evaluation.TaskFiles;

/// <summary>
/// Reads a split's documents. JSONL lines are {"context": ..., "completion": ...} (GPT-3's released synthetic data) or
/// {"question": ..., "choices": [...], "answer": index or text} plus any other string fields; generators are
/// <see cref="SyntheticTasks"/> by name.
/// </summary>
public static class DocumentLoader
{
    public static IReadOnlyList<EvalDocument> Load(SourceSpec source, bool wantChoices) =>
        source.Jsonl is not null ? ReadJsonl(source.Jsonl) : Generate(source, wantChoices);

    static IReadOnlyList<EvalDocument> Generate(SourceSpec source, bool wantChoices)
    {
        var task = SyntheticTasks.Get(source.Generator!);
        var count = source.Count ?? task.DefaultCount;
        if (wantChoices && task is IMultipleChoiceTask choiceTask)
            return [.. choiceTask.GenerateChoices(count, source.Seed).Select((e, i) => FromChoices(e, $"generator {task.Name} #{i}"))];
        return [.. task.Generate(count, source.Seed).Select((e, i) => FromExample(e, $"generator {task.Name} #{i}"))];
    }

    static EvalDocument FromExample(TaskExample e, string origin) =>
        new(new Dictionary<string, string> { ["context"] = e.Context, ["completion"] = e.Completion, ["answer"] = e.Completion }, null, 0, origin);

    static EvalDocument FromChoices(ChoiceExample e, string origin) =>
        new(new Dictionary<string, string> { ["context"] = e.Context, ["completion"] = e.Choices[e.Answer], ["answer"] = e.Choices[e.Answer] },
            e.Choices, e.Answer, origin);

    public static IReadOnlyList<EvalDocument> ReadJsonl(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: documents file not found");
        var documents = new List<EvalDocument>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var where = $"{path}:{lineNumber}";
            JsonObject o;
            try { o = JsonNode.Parse(line) as JsonObject ?? throw new FormatException($"{where}: expected a JSON object"); }
            catch (JsonException e) { throw new FormatException($"{where}: not valid JSON ({e.Message})"); }
            documents.Add(Parse(o, where));
        }
        return documents;
    }

    static EvalDocument Parse(JsonObject o, string where)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in o)
            if (key != "choices" && value is JsonValue v)
                fields[key] = v.TryGetValue<string>(out var s) ? s : v.ToJsonString();

        if (o["choices"] is not JsonArray array)
        {
            if (o["choices"] is not null) throw new FormatException($"{where}: 'choices' must be a list of strings");
            if (fields.TryGetValue("completion", out var completion)) fields.TryAdd("answer", completion);
            return new EvalDocument(fields, null, 0, where);
        }

        var choices = array.Select(c => c is JsonValue cv && cv.TryGetValue<string>(out var s) ? s
            : throw new FormatException($"{where}: 'choices' must be a list of strings")).ToArray();
        if (choices.Length < 2) throw new FormatException($"{where}: a question needs at least 2 choices");
        var answer = o["answer"] switch
        {
            JsonValue v when v.TryGetValue<int>(out var i) => i,
            JsonValue v when v.TryGetValue<string>(out var s) => Array.IndexOf(choices, s) is >= 0 and var found ? found
                : throw new FormatException($"{where}: answer '{s}' is not one of the choices"),
            null => throw new FormatException($"{where}: missing field 'answer'"),
            _ => throw new FormatException($"{where}: 'answer' must be a choice index or a choice's text"),
        };
        if (answer < 0 || answer >= choices.Length) throw new FormatException($"{where}: answer index {answer} is outside the {choices.Length} choices");
        fields["answer"] = choices[answer];
        return new EvalDocument(fields, choices, answer, where);
    }
}
