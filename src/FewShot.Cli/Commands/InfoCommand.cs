using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Model;
using FewShot.Model.Storage;
using Spectre.Console;

namespace FewShot.Cli.Commands;

/// <summary>fewshot info --preset NAME | --model DIR: parameters, FLOPs per token and memory, without allocating weights.</summary>
public sealed class InfoCommand : CliCommand
{
    readonly Option<string?> preset = new("--preset") { Description = "A preset name (gpt3-small ... gpt3-175b, char-tiny, mini, demo); 'all' lists every preset" };
    readonly Option<string?> model = new("--model") { Description = "A model folder" };

    public InfoCommand() : base("info", "Show a model's size, training FLOPs per token and memory")
    {
        Options.Add(preset);
        Options.Add(model);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var presetName = parse.GetValue(preset);
        var folder = parse.GetValue(model);
        if ((presetName is null) == (folder is null)) throw new ArgumentException("give exactly one of --preset NAME or --model DIR");

        var rows = presetName?.Equals("all", StringComparison.OrdinalIgnoreCase) == true
            ? Presets.All.Select(p => (p.Name, p.Config, (Preset?)p)).ToList()
            : folder is not null
                ? [(Path.GetFileName(Path.GetFullPath(folder)), GptConfig.Load(Path.Combine(folder, ModelFolder.ConfigFile)), (Preset?)null)]
                : [(Presets.Get(presetName!).Name, Presets.Get(presetName!).Config, Presets.Get(presetName!))];

        if (context.Json)
        {
            var items = rows.Select(r => Describe(r.Item1, r.Item2, r.Item3)).ToArray();
            context.WriteJson(items.Length == 1 ? items[0] : new JsonArray(items));
            return Task.FromResult(ExitCodes.Success);
        }

        var table = new Table().AddColumns("name", "layers", "d_model", "heads", "d_head", "n_ctx", "params", "paper", "train FLOPs/token", "weights", "+ AdamW");
        foreach (var (name, config, p) in rows)
        {
            var info = ModelInfo.Of(config);
            table.AddRow(name, $"{config.Layers}", $"{config.Embedding}", $"{config.Heads}", $"{config.HeadSize}", $"{config.ContextLength}",
                Units.Count(info.Parameters), p?.PaperParameters ?? "-", Units.Count((long)info.TrainingFlopsPerToken),
                Units.Bytes(info.WeightBytes), Units.Bytes(info.OptimizerBytes));
        }
        context.Out.Write(table);
        foreach (var note in rows.Select(r => r.Item3?.Note).Where(n => !string.IsNullOrEmpty(n)).Distinct())
            context.Out.MarkupLine($"[grey]{Markup.Escape(note!)}[/]");
        return Task.FromResult(ExitCodes.Success);
    }

    static JsonObject Describe(string name, GptConfig config, Preset? preset)
    {
        var info = ModelInfo.Of(config);
        var json = new JsonObject
        {
            ["name"] = name,
            ["parameters"] = info.Parameters,
            ["non_embedding_parameters"] = info.NonEmbeddingParameters,
            ["training_flops_per_token"] = info.TrainingFlopsPerToken,
            ["weight_bytes"] = info.WeightBytes,
            ["optimizer_bytes"] = info.OptimizerBytes,
            ["config"] = config.ToJson(),
        };
        if (preset is not null)
        {
            json["paper_parameters"] = preset.PaperParameters;
            json["batch_tokens"] = preset.BatchTokens;
            json["learning_rate"] = preset.LearningRate;
            if (preset.Note.Length > 0) json["note"] = preset.Note;
        }
        return json;
    }
}
