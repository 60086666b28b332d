namespace FewShot.Evaluation.TaskFiles;

/// <summary>A query and its answers as rendered text: the query ends where the answer's delimiter begins.</summary>
public sealed record RenderedExample(string Query, string Answer, IReadOnlyList<string>? Choices, int AnswerIndex, EvalDocument Document)
{
    /// <summary>The example as a demonstration: query, delimiter, answer.</summary>
    public string Demonstration(string delimiter) => Query + delimiter + Answer;
}

/// <summary>A task file with its splits read and every document rendered (so template errors surface before any scoring).</summary>
public sealed class EvalTask
{
    public TaskConfig Config { get; }
    public IReadOnlyList<RenderedExample> Demos { get; }
    public IReadOnlyList<RenderedExample> Eval { get; }
    public IReadOnlyList<RenderedExample>? Ood { get; }
    /// <summary>True when demonstrations come from the evaluated split itself (then a query is never its own demonstration).</summary>
    public bool DemosShareEvalSplit => Config.DemoSplit == Config.EvalSplit;

    public string Name => Config.Name;

    EvalTask(TaskConfig config, IReadOnlyList<RenderedExample> demos, IReadOnlyList<RenderedExample> eval, IReadOnlyList<RenderedExample>? ood)
    {
        Config = config;
        Demos = demos;
        Eval = eval;
        Ood = ood;
    }

    public static EvalTask Load(TaskConfig config)
    {
        var cache = new Dictionary<string, IReadOnlyList<RenderedExample>>();
        IReadOnlyList<RenderedExample> Split(string name)
        {
            if (cache.TryGetValue(name, out var done)) return done;
            var documents = DocumentLoader.Load(config.Splits[name], config.OutputType == OutputType.MultipleChoice);
            if (documents.Count == 0) throw new InvalidDataException($"{config.Origin}: task '{config.Name}' has no documents in split '{name}' ({config.Splits[name]})");
            return cache[name] = [.. documents.Select(d => Render(config, d))];
        }
        return new EvalTask(config, Split(config.DemoSplit), Split(config.EvalSplit), config.OodSplit is { } ood ? Split(ood) : null);
    }

    public static RenderedExample Render(TaskConfig config, EvalDocument document)
    {
        var where = $"{config.Origin}: {{0}} (document {document.Origin})";
        if (config.OutputType == OutputType.MultipleChoice && document.Choices is null)
            throw new InvalidDataException($"{config.Origin}: task '{config.Name}' is multiple_choice but document {document.Origin} has no choices");
        var query = Template.Render(config.QueryTemplate, document.Fields, string.Format(where, "query_template"));
        var answer = Template.Render(config.AnswerTemplate, document.Fields, string.Format(where, "answer_template"));
        IReadOnlyList<string>? choices = null;
        if (document.Choices is { } list && config.OutputType == OutputType.MultipleChoice)
            choices = [.. list.Select(choice =>
            {
                var fields = new Dictionary<string, string>(document.Fields) { ["answer"] = choice };
                return Template.Render(config.AnswerTemplate, fields, string.Format(where, "answer_template"));
            })];
        return new RenderedExample(query, answer, choices, document.Answer, document);
    }
}
