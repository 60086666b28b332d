using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Data;
using Spectre.Console;

namespace FewShot.Cli.Commands.Data;

/// <summary>
/// fewshot data prepare MIXTURE|builtin --out DIR: reads, cleans, de-duplicates, filters and tokenizes a mixture into
/// token shards (docs/data.md), with a progress bar per stage, then a summary table per source.
/// </summary>
public sealed class DataPrepareCommand : CliCommand
{
    readonly Argument<string> mixture = new("mixture") { Description = "A mixture file (JSON, see docs/data.md) or 'builtin' for the built-in corpus" };
    readonly Option<string> output = new("--out") { Description = "Data folder to write (shards, manifest.json, report.json)", Required = true };
    readonly Option<int> workers = new("--workers") { Description = "Worker threads (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
    readonly Option<ulong?> seed = new("--seed") { Description = "Seed of the quality filter's Pareto draws and classifier" };
    readonly Option<int> ngramSampling = new("--ngram-sampling") { Description = "The training 13-gram index (for eval --contamination) keeps 1 in this many n-grams; 1 = exact", DefaultValueFactory = _ => new PrepareOptions().TrainNGramSampling };

    public DataPrepareCommand() : base("prepare", "Turn a mixture of raw corpora into token shards")
    {
        Arguments.Add(mixture);
        Options.Add(output);
        Options.Add(workers);
        Options.Add(seed);
        Options.Add(ngramSampling);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var count = parse.GetValue(workers);
        if (count < 1) throw new ArgumentException($"--workers must be at least 1, got {count}");
        var sampling = parse.GetValue(ngramSampling);
        if (sampling < 1) throw new ArgumentException($"--ngram-sampling must be at least 1, got {sampling}");
        var options = new PrepareOptions { Workers = count, TrainNGramSampling = sampling };
        if (parse.GetValue(seed) is { } s) options = options with { Quality = options.Quality with { Seed = s } };
        var name = parse.GetValue(mixture)!;
        var outDir = parse.GetValue(output)!;

        // A missing or malformed mixture file fails before any progress display (builtin may take seconds to build: it gets bars).
        var spec = name.Equals(DataArguments.Builtin, StringComparison.OrdinalIgnoreCase) ? null : DataArguments.LoadMixture(name);
        PrepareReport report = null!;
        context.Progress().Start(p =>
        {
            var bars = new StageProgressBars(p);
            spec ??= DataArguments.LoadMixture(name, bars);
            // Prepare deletes any old manifest first and writes the new one last: a failure here leaves no folder that looks complete.
            report = DataPipeline.Prepare(spec, outDir, options, bars, cancel);
            bars.FinishAll();
        });

        foreach (var warning in report.Warnings) context.Warn(warning);
        if (context.Json)
        {
            context.WriteJson(JsonNode.Parse(report.ToJson())!);
            return Task.FromResult(ExitCodes.Success);
        }
        context.Out.Write(SummaryTable(report));
        foreach (var source in report.Sources.Where(s => s.SkipMessages.Count > 0))
        {
            context.Out.MarkupLine($"[yellow]{Markup.Escape(source.Name)}[/]: {source.SkippedRecords:N0} bad records skipped; first ones:");
            foreach (var message in source.SkipMessages) context.Out.MarkupLine($"  [grey]{Markup.Escape(message)}[/]");
        }
        foreach (var source in report.Sources.Where(s => s.CleaningDropped.Count > 0))
            context.Out.MarkupLine($"[grey]{Markup.Escape(source.Name)} cleaning dropped: {Markup.Escape(string.Join(", ", source.CleaningDropped.Select(kv => $"{kv.Key} {kv.Value:N0}")))}[/]");
        if (report.QualityTrainingAccuracy is { } accuracy)
            context.Out.MarkupLine($"quality classifier training accuracy {accuracy:P1}; score histogram: {Markup.Escape(report.QualityHistogram ?? "-")}");
        context.Out.MarkupLine($"wrote [bold]{Markup.Escape(report.OutDir)}[/]: {Units.Count(report.TotalTokens)} tokens ({Markup.Escape(report.Tokenizer)}) in {report.Seconds:F1} s");
        return Task.FromResult(ExitCodes.Success);
    }

    static Table SummaryTable(PrepareReport report)
    {
        var table = new Table().AddColumns("source", "read", "skipped", "cleaned", "exact dups", "fuzzy dups", "quality-filtered", "decontaminated", "written", "tokens");
        foreach (var column in table.Columns.Skip(1)) column.RightAligned();
        foreach (var s in report.Sources)
            table.AddRow(Markup.Escape(s.Name), $"{s.DocumentsRead:N0}", $"{s.SkippedRecords:N0}", $"{s.CleaningDroppedTotal:N0}", $"{s.ExactDuplicates:N0}",
                $"{s.FuzzyDuplicates:N0}", QualityCell(s), $"{s.Decontaminated:N0}", $"{s.DocumentsWritten + s.ValDocuments:N0}", $"{s.TokensWritten + s.ValTokens:N0}");
        var all = report.Sources;
        table.AddRow("[bold]total[/]", $"{all.Sum(s => s.DocumentsRead):N0}", $"{all.Sum(s => s.SkippedRecords):N0}", $"{all.Sum(s => s.CleaningDroppedTotal):N0}",
            $"{all.Sum(s => s.ExactDuplicates):N0}", $"{all.Sum(s => s.FuzzyDuplicates):N0}", $"{all.Sum(s => s.QualityFiltered):N0}",
            $"{all.Sum(s => s.Decontaminated):N0}", $"{all.Sum(s => s.DocumentsWritten + s.ValDocuments):N0}", $"{report.TotalTokens:N0}");
        table.Caption("[grey]cleaned = dropped by cleaning; written and tokens include the validation split[/]");
        return table;
    }

    static string QualityCell(SourceReport s) =>
        s.QualityKeepRatio is { } keep ? $"{s.QualityFiltered:N0} (kept {keep:P0})" : $"{s.QualityFiltered:N0}";
}
