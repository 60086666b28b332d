using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Data;
using FewShot.Data.Mixture;
using Spectre.Console;

namespace FewShot.Cli.Commands.Data;

/// <summary>
/// fewshot data plan MIXTURE --tokens N: per source, its size, weight and the epochs a budget of N training tokens
/// takes through it (weight x N / size, GPT-3's Table 2.2), with the weights as written and as the sampler uses them.
/// </summary>
public sealed class DataPlanCommand : CliCommand
{
    readonly Argument<string> mixture = new("mixture") { Description = "A mixture file (sources give \"tokens\" or are prepared with --data) or 'builtin'" };
    readonly Option<string> tokens = new("--tokens") { Description = "Training budget in tokens: 300e9, 300B, 1.5e6 ...", Required = true };
    readonly Option<string?> data = new("--data") { Description = "A prepared data folder whose token counts size the sources" };

    public DataPlanCommand() : base("plan", "Show the epochs per source for a training budget")
    {
        Arguments.Add(mixture);
        Options.Add(tokens);
        Options.Add(data);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var budget = DataArguments.ParseCount("--tokens", parse.GetValue(tokens)!);
        var spec = DataArguments.LoadMixture(parse.GetValue(mixture)!);
        var prepared = parse.GetValue(data) is { } dir ? DataStats.Read(dir).Sources.ToDictionary(s => s.Name, s => s.Tokens) : null;
        var rows = DataPlanner.Plan(spec, budget, prepared);

        foreach (var warning in spec.Warnings) context.Warn(warning);
        if (context.Json)
        {
            context.WriteJson(new JsonObject
            {
                ["budget_tokens"] = budget,
                ["sources"] = new JsonArray([.. rows.Select(r => (JsonNode)new JsonObject
                {
                    ["name"] = r.Name, ["tokens"] = r.Tokens, ["weight"] = r.Weight, ["epochs"] = r.Epochs, ["tokens_seen"] = r.TokensSeen,
                    ["sampled_weight"] = r.SampledWeight, ["sampled_epochs"] = r.SampledEpochs,
                })]),
                ["warnings"] = new JsonArray([.. spec.Warnings.Select(w => (JsonNode)w)]),
            });
            return Task.FromResult(ExitCodes.Success);
        }
        var table = new Table().AddColumns("source", "tokens", "weight", "epochs", "sampled weight", "sampled epochs");
        foreach (var column in table.Columns.Skip(1)) column.RightAligned();
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Name), Units.Count((long)r.Tokens), $"{r.Weight:P1}", $"{r.Epochs:F2}", $"{r.SampledWeight:P1}", $"{r.SampledEpochs:F2}");
        table.Caption(Markup.Escape($"budget {Units.Count((long)budget)} tokens; epochs = weight x budget / tokens"));
        context.Out.Write(table);
        return Task.FromResult(ExitCodes.Success);
    }
}
