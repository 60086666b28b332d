using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Model.Storage;
using Spectre.Console;

namespace FewShot.Cli.Commands;

/// <summary>fewshot import-hf SRC --out DIR: a Hugging Face GPT-2 folder into a FewShot model folder.</summary>
public sealed class ImportHfCommand : CliCommand
{
    readonly Argument<string> source = new("source") { Description = "Hugging Face GPT-2 folder (config.json + model.safetensors)" };
    readonly Option<string> output = new("--out") { Description = "Model folder to write", Required = true };

    public ImportHfCommand() : base("import-hf", "Import a Hugging Face GPT-2 checkpoint")
    {
        Arguments.Add(source);
        Options.Add(output);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var destination = parse.GetValue(output)!;
        using var loaded = HuggingFaceGpt2.Import(parse.GetValue(source)!);
        ModelFolder.Save(loaded.Model, loaded.Tokenizer, destination);
        Report(context, destination, loaded);
        return Task.FromResult(ExitCodes.Success);
    }

    internal static void Report(CliContext context, string destination, LoadedModel loaded)
    {
        var parameters = loaded.Model.parameters().Sum(p => p.numel());
        if (context.Json)
            context.WriteJson(new JsonObject { ["model_dir"] = Path.GetFullPath(destination), ["parameters"] = parameters, ["tokenizer"] = loaded.Tokenizer.Name });
        else
            context.Out.MarkupLine($"wrote [bold]{Markup.Escape(destination)}[/] ({Units.Count(parameters)} parameters, tokenizer {loaded.Tokenizer.Name})");
    }
}

/// <summary>fewshot export-hf DIR --out DST: a FewShot model folder into Hugging Face's GPT-2 layout.</summary>
public sealed class ExportHfCommand : CliCommand
{
    readonly Argument<string> source = new("model") { Description = "FewShot model folder" };
    readonly Option<string> output = new("--out") { Description = "Folder to write in Hugging Face's GPT-2 layout", Required = true };

    public ExportHfCommand() : base("export-hf", "Export a model in Hugging Face's GPT-2 layout")
    {
        Arguments.Add(source);
        Options.Add(output);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var destination = parse.GetValue(output)!;
        using var loaded = ModelFolder.Load(parse.GetValue(source)!);
        HuggingFaceGpt2.Export(loaded.Model, destination);
        ImportHfCommand.Report(context, destination, loaded);
        return Task.FromResult(ExitCodes.Success);
    }
}
