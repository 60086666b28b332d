using System.Text;
using FewShot.Evaluation.TaskFiles;

namespace FewShot.Evaluation.Prompts;

/// <summary>A prompt ready to score: the context (description, demonstrations, query) and how many demonstrations fit.</summary>
public sealed record Prompt(string Context, RenderedExample Query, int RequestedShots, int EffectiveShots);

/// <summary>
/// Builds GPT-3's prompts (Section 2.4): the optional task description, then K demonstrations drawn with a seed from
/// the demonstration split (never the query itself), separated by the task's example separator, then the query.
/// When the prompt and its longest answer do not fit the model's context, the last demonstrations are dropped.
/// </summary>
public sealed class PromptBuilder(EvalTask task, Func<string, int> countTokens, int contextLength)
{
    public Prompt Build(RenderedExample query, int queryIndex, int shots, bool withDescription, int seed, bool queryFromEvalSplit = true)
    {
        var config = task.Config;
        var pool = task.Demos;
        var excluded = task.DemosShareEvalSplit && queryFromEvalSplit ? queryIndex : -1;
        var available = pool.Count - (excluded >= 0 ? 1 : 0);
        if (shots > available)
            throw new ArgumentException($"task '{task.Name}': {shots} demonstrations asked for but split '{config.DemoSplit}' offers only {available}");

        var demos = Draw(pool, query, excluded, shots, new Random(unchecked(seed * 1_000_003 + queryIndex)));
        var answerTokens = config.OutputType switch
        {
            OutputType.GenerateUntil => config.MaxNewTokens,
            OutputType.LogLikelihoodRolling => 0,
            _ => (query.Choices ?? [query.Answer]).Max(a => countTokens(config.AnswerDelimiter + a)),
        };
        for (var k = demos.Count; ; k--)
        {
            var context = Assemble(demos.Take(k), query, withDescription);
            if (countTokens(context) + answerTokens <= contextLength) return new Prompt(context, query, shots, k);
            if (k == 0)
                throw new ArgumentException($"task '{task.Name}': the model's context ({contextLength} tokens) cannot hold even the zero-shot prompt of document {query.Document.Origin} ({countTokens(context)} + {answerTokens} answer tokens)");
        }
    }

    string Assemble(IEnumerable<RenderedExample> demos, RenderedExample query, bool withDescription)
    {
        var config = task.Config;
        var text = new StringBuilder();
        if (withDescription && !string.IsNullOrEmpty(config.Description)) text.Append(config.Description).Append(config.DescriptionSeparator);
        foreach (var demo in demos) text.Append(demo.Demonstration(config.AnswerDelimiter)).Append(config.ExampleSeparator);
        return text.Append(query.Query).ToString();
    }

    // K distinct demonstrations, none of which is the query (by index in a shared split, or by identical text).
    static List<RenderedExample> Draw(IReadOnlyList<RenderedExample> pool, RenderedExample query, int excluded, int shots, Random random)
    {
        var chosen = new List<RenderedExample>(shots);
        if (shots == 0) return chosen;
        var order = Enumerable.Range(0, pool.Count).ToArray();
        random.Shuffle(order);
        foreach (var i in order)
        {
            if (chosen.Count == shots) break;
            if (i == excluded || (pool[i].Query == query.Query && pool[i].Answer == query.Answer)) continue;
            chosen.Add(pool[i]);
        }
        if (chosen.Count < shots)
            throw new ArgumentException($"only {chosen.Count} demonstrations differ from the query {query.Document.Origin}, {shots} asked for");
        return chosen;
    }
}
