using FewShot.Evaluation.Prompts;
using FewShot.Evaluation.Scoring;
using FewShot.Evaluation.TaskFiles;

namespace FewShot.Evaluation.Running;

/// <summary>
/// Runs tasks x K x (with/without description) x (IID/OOD) on a model and collects per-example scores and metrics with
/// standard errors. Every prompt is built (and so every bad input found) before the model scores anything.
/// </summary>
public sealed class EvalRunner(LanguageModel model, EvalOptions options)
{
    sealed record Condition(EvalTask Task, string Split, int Shots, bool Description, IReadOnlyList<Prompt> Prompts, bool?[]? Contaminated);

    public EvalReport Run(IReadOnlyList<EvalTask> tasks)
    {
        if (tasks.Count == 0) throw new ArgumentException("no tasks to evaluate");
        var conditions = new List<Condition>();
        var contamination = new List<ContaminationRow>();
        foreach (var task in tasks)
        {
            var flags = new Dictionary<string, bool?[]?>();
            foreach (var (split, examples) in Splits(task))
            {
                flags[split] = null;
                if (options.Contamination is { } checker)
                {
                    var found = checker.FindContaminated([.. examples.Select(e => e.Demonstration(task.Config.AnswerDelimiter))]).ToArray();
                    flags[split] = found;
                    contamination.Add(new ContaminationRow(task.Name, split, found.Count(f => f is not null), found.Count(f => f == true)));
                }
                foreach (var shots in ShotsFor(task))
                    foreach (var description in DescriptionsFor(task, shots))
                        conditions.Add(new Condition(task, split, shots, description, BuildPrompts(task, examples, split, shots, description), flags[split]));
            }
        }

        var metrics = new List<MetricRow>();
        var examplesOut = new List<ExampleRow>();
        foreach (var condition in conditions)
        {
            var scored = Score(model, condition, "icl");
            examplesOut.AddRange(scored.Examples);
            metrics.AddRange(scored.Metrics);
        }
        if (options.FineTune is { } settings) FineTuneAll(tasks, settings, metrics, examplesOut);
        if (options.BagOfWords) foreach (var task in tasks) metrics.AddRange(BagOfWords(task));

        var m = model.Scorer.Description;
        return new EvalReport(
            new ModelSummary(model.Name, model.Hash, m.Parameters, m.Layers, m.Embedding, model.ContextLength, model.Tokenizer.Name, m.BaseUrl),
            options.Seed,
            [.. tasks.Select(t => new TaskSummary(t.Name, t.Config.Hash, t.Config.Origin, TaskConfig.TypeName(t.Config.OutputType), t.Config.PrimaryMetric))],
            metrics, examplesOut, contamination);
    }

    IEnumerable<(string Split, IReadOnlyList<RenderedExample> Examples)> Splits(EvalTask task)
    {
        yield return ("iid", Limit(task.Eval));
        if (task.Ood is { } ood) yield return ("ood", Limit(ood));
    }

    IReadOnlyList<RenderedExample> Limit(IReadOnlyList<RenderedExample> examples) =>
        options.Limit is { } n ? [.. examples.Take(n)] : examples;

    IReadOnlyList<int> ShotsFor(EvalTask task) =>
        task.Config.OutputType == OutputType.LogLikelihoodRolling ? [0]
        : options.Shots ?? [.. new[] { 0, 1, task.Config.DefaultShots }.Distinct().Order()];

    IEnumerable<bool> DescriptionsFor(EvalTask task, int shots)
    {
        var has = !string.IsNullOrEmpty(task.Config.Description);
        return options.Descriptions switch
        {
            DescriptionMode.With => [has],
            DescriptionMode.Without => [false],
            _ => has ? [true, false] : [false],
        };
    }

    IReadOnlyList<Prompt> BuildPrompts(EvalTask task, IReadOnlyList<RenderedExample> examples, string split, int shots, bool description)
    {
        var builder = new PromptBuilder(task, model.CountTokens, model.ContextLength);
        return [.. examples.Select((e, i) => builder.Build(e, i, shots, description, options.Seed, queryFromEvalSplit: split == "iid"))];
    }

    (List<ExampleRow> Examples, List<MetricRow> Metrics) Score(LanguageModel lm, Condition c, string mode)
    {
        var config = c.Task.Config;
        var label = $"{c.Task.Name} {c.Split} K={c.Shots}{(c.Description ? " +desc" : "")}{(mode == "icl" ? "" : " " + mode)}";
        var values = config.Metrics.ToDictionary(m => m, _ => new double[c.Prompts.Count]);
        var predictions = new string?[c.Prompts.Count];
        var extra = new double[c.Prompts.Count]; // perplexity: tokens scored per document
        void Progress(int done) => options.OnProgress?.Invoke(label, done, c.Prompts.Count);
        Progress(0);

        var delimiter = config.AnswerDelimiter;
        switch (config.OutputType)
        {
            case OutputType.LogLikelihood:
            {
                var scores = lm.Score([.. c.Prompts.Select(p => (p.Context, delimiter + p.Query.Answer))], config.Hash);
                for (var i = 0; i < scores.Length; i++)
                {
                    Set(values, "acc", i, scores[i].IsGreedy ? 1 : 0);
                    Set(values, "loglikelihood", i, scores[i].LogProb);
                    // What the model would have written, token by token given the true answer so far (its greedy
                    // continuation exactly when the answer is it).
                    predictions[i] = scores[i].IsGreedy ? c.Prompts[i].Query.Answer : scores[i].Argmax is { } best ? lm.Decode(best) : null;
                }
                Progress(c.Prompts.Count);
                break;
            }
            case OutputType.MultipleChoice:
            {
                // Every question's choices scored in one call (batched in-process, concurrent requests through an API).
                var questions = c.Prompts.Select(p => (p.Context, (IReadOnlyList<string>)[.. p.Query.Choices!.Select(x => delimiter + x)])).ToArray();
                var allConditional = lm.ScoreChoices(questions, config.Hash, Progress);
                var unconditionalFlat = values.ContainsKey("acc_unconditional")
                    ? lm.Score([.. questions.SelectMany(q => q.Item2.Select(x => ("Answer:", x)))], config.Hash) : null;
                var offset = 0;
                for (var i = 0; i < c.Prompts.Count; i++)
                {
                    var prompt = c.Prompts[i];
                    var choices = questions[i].Item2;
                    var conditional = allConditional[i];
                    var unconditional = unconditionalFlat?[offset..(offset + choices.Count)];
                    offset += choices.Count;
                    double[] Pick(Func<int, double> score) => [.. Enumerable.Range(0, choices.Count).Select(score)];
                    var ranked = new Dictionary<string, double[]>
                    {
                        ["acc"] = Pick(j => conditional[j].LogProb),
                        ["acc_per_char"] = Pick(j => conditional[j].LogProb / Math.Max(1, choices[j].Length)),
                        ["acc_per_token"] = Pick(j => conditional[j].LogProb / conditional[j].Tokens),
                        ["acc_unconditional"] = unconditional is null ? [] : Pick(j => conditional[j].LogProb - unconditional[j].LogProb),
                    };
                    foreach (var metric in config.Metrics)
                        Set(values, metric, i, ArgMax(ranked[metric]) == prompt.Query.AnswerIndex ? 1 : 0);
                    predictions[i] = prompt.Query.Choices![ArgMax(ranked[config.PrimaryMetric])];
                }
                break;
            }
            case OutputType.GenerateUntil:
            {
                var decoding = options.Decoding ?? config.Decoding;
                var outputs = decoding == "beam"
                    ? [.. c.Prompts.Select((p, i) => { var text = lm.GenerateBeam(p.Context, config.Stop, config.MaxNewTokens, config.BeamWidth, config.LengthPenalty); Progress(i + 1); return text; })]
                    : lm.GenerateGreedy([.. c.Prompts.Select(p => p.Context)], config.Stop, config.MaxNewTokens);
                for (var i = 0; i < outputs.Length; i++)
                {
                    Set(values, "exact_match", i, AnswerMetrics.ExactMatch(outputs[i], c.Prompts[i].Query.Answer));
                    Set(values, "f1", i, AnswerMetrics.TokenF1(outputs[i], c.Prompts[i].Query.Answer));
                    predictions[i] = outputs[i];
                }
                Progress(c.Prompts.Count);
                break;
            }
            default:
            {
                var texts = c.Prompts.Select(p => config.AnswerTemplate.Length == 0 ? p.Query.Query : p.Query.Demonstration(delimiter)).ToArray();
                var rolled = lm.ScoreRolling(texts, config.Hash);
                for (var i = 0; i < c.Prompts.Count; i++)
                {
                    var (nll, tokens) = rolled[i];
                    Set(values, "bits_per_byte", i, nll / Math.Log(2) / Math.Max(1, System.Text.Encoding.UTF8.GetByteCount(texts[i])));
                    Set(values, "perplexity", i, nll);
                    extra[i] = tokens;
                }
                Progress(c.Prompts.Count);
                break;
            }
        }

        var examples = c.Prompts.Select((p, i) => new ExampleRow(c.Task.Name, mode, c.Shots, c.Description, c.Split, i, p.Context,
            p.Query.Answer, predictions[i], values[config.PrimaryMetric][i], p.EffectiveShots, c.Contaminated?[i])).ToList();
        var effective = c.Prompts.Average(p => p.EffectiveShots);
        var rows = new List<MetricRow>();
        void Aggregate(string subset, Func<int, bool> include)
        {
            var chosen = Enumerable.Range(0, c.Prompts.Count).Where(include).ToArray();
            foreach (var metric in config.Metrics)
            {
                var estimate = metric == "perplexity"
                    ? Perplexity(chosen.Select(i => values[metric][i]).ToArray(), chosen.Select(i => extra[i]).ToArray())
                    : Estimate.Of(chosen.Select(i => values[metric][i]).ToArray());
                rows.Add(new MetricRow(c.Task.Name, config.Hash, mode, c.Shots, effective, c.Description, c.Split, subset, metric,
                    estimate.Value, estimate.StdErr, estimate.N, options.Seed));
            }
        }
        Aggregate("all", _ => true);
        if (c.Contaminated is { } flags) Aggregate("clean", i => flags[i] != true);
        return (examples, rows);
    }

    static void Set(Dictionary<string, double[]> values, string metric, int i, double value)
    {
        if (values.TryGetValue(metric, out var array)) array[i] = value;
    }

    static int ArgMax(double[] scores) => Array.IndexOf(scores, scores.Max());

    // exp(total nll / total tokens); its standard error by the delta method from the per-document nll per token.
    static Estimate Perplexity(double[] nll, double[] tokens)
    {
        if (nll.Length == 0) return new Estimate(double.NaN, double.NaN, 0);
        var value = Math.Exp(nll.Sum() / Math.Max(1, tokens.Sum()));
        var perToken = Estimate.Of(nll.Zip(tokens, (n, t) => n / Math.Max(1, t)).ToArray());
        return new Estimate(value, value * perToken.StdErr, nll.Length);
    }

    void FineTuneAll(IReadOnlyList<EvalTask> tasks, FineTuner.Settings settings, List<MetricRow> metrics, List<ExampleRow> examples)
    {
        foreach (var task in tasks)
        {
            if (task.Config.OutputType == OutputType.LogLikelihoodRolling) continue;
            foreach (var shots in ShotsFor(task).Where(k => k > 0))
            {
                if (shots > task.Demos.Count)
                    throw new ArgumentException($"task '{task.Name}': {shots} demonstrations asked for but split '{task.Config.DemoSplit}' offers only {task.Demos.Count}");
                var random = new Random(options.Seed);
                var order = Enumerable.Range(0, task.Demos.Count).ToArray();
                random.Shuffle(order);
                var demos = order.Take(shots).Select(i => task.Demos[i].Demonstration(task.Config.AnswerDelimiter)).ToArray();
                options.OnProgress?.Invoke($"{task.Name} fine-tuning on K={shots}", 0, 1);
                var (tuned, _) = FineTuner.Tune(model.Model, model.Tokenizer, demos, settings);
                using (tuned)
                {
                    var lm = new LanguageModel(tuned, model.Tokenizer, $"{model.Hash}-ft{shots}-s{options.Seed}-{settings.GetHashCode():x}") { BatchSize = model.BatchSize };
                    foreach (var (split, splitExamples) in Splits(task))
                    {
                        var description = DescriptionsFor(task, 0).First();
                        var prompts = BuildPrompts(task, splitExamples, split, 0, description);
                        var scored = Score(lm, new Condition(task, split, 0, description, prompts, null), "finetune");
                        metrics.AddRange(scored.Metrics.Select(r => r with { Shots = shots }));
                        examples.AddRange(scored.Examples.Select(r => r with { Shots = shots }));
                    }
                }
            }
        }
    }

    IEnumerable<MetricRow> BagOfWords(EvalTask task)
    {
        if (task.Config.OutputType == OutputType.LogLikelihoodRolling) yield break;
        var classifier = new BagOfWordsClassifier(task.Demos.Select(d => (d.Query, d.Answer)));
        foreach (var (split, examples) in Splits(task))
        {
            var correct = examples.Select(e => classifier.Predict(e.Query, e.Choices) == e.Answer.Trim() ? 1.0 : 0.0).ToArray();
            var estimate = Estimate.Of(correct);
            yield return new MetricRow(task.Name, task.Config.Hash, "bag_of_words", task.Demos.Count, task.Demos.Count, false, split, "all",
                "acc", estimate.Value, estimate.StdErr, estimate.N, options.Seed);
        }
    }
}
