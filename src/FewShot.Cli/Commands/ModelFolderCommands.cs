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

/// <summary>fewshot quantize DIR --type q8_0: rewrites the folder's weights in 8 bits (or back to f32).</summary>
public sealed class QuantizeCommand : CliCommand
{
    readonly Argument<string> source = new("model") { Description = "FewShot model folder (rewritten in place)" };
    readonly Option<string> type = new("--type") { Description = "Weight format: q8_0 (8-bit, blocks of 32 with one scale) or f32", Required = true };

    public QuantizeCommand() : base("quantize", "Store a model folder's weights in 8 bits (Q8_0)")
    {
        Arguments.Add(source);
        Options.Add(type);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var folder = parse.GetValue(source)!;
        var format = FewShot.Model.Inference.WeightFormats.Parse(parse.GetValue(type))
            ?? throw new ArgumentException($"--type: unknown weight format '{parse.GetValue(type)}' (expected q8_0 or f32)");
        var before = new FileInfo(Path.Combine(folder, ModelFolder.WeightsFile));
        var bytesBefore = before.Exists ? before.Length : 0;
        ModelFolder.Quantize(folder, format);
        var bytesAfter = new FileInfo(Path.Combine(folder, ModelFolder.WeightsFile)).Length;
        var name = FewShot.Model.Inference.WeightFormats.Name(format);
        if (context.Json)
            context.WriteJson(new JsonObject { ["model_dir"] = Path.GetFullPath(folder), ["type"] = name, ["bytes_before"] = bytesBefore, ["bytes_after"] = bytesAfter });
        else
            context.Out.MarkupLine($"wrote [bold]{Markup.Escape(folder)}[/] weights as {name}: {Units.Bytes(bytesBefore)} -> {Units.Bytes(bytesAfter)}");
        return Task.FromResult(ExitCodes.Success);
    }
}

/// <summary>fewshot export-gguf DIR OUT.gguf --type f32|f16|q8_0: a model for llama.cpp (and Ollama, LM Studio).</summary>
public sealed class ExportGgufCommand : CliCommand
{
    readonly Argument<string> source = new("model") { Description = "FewShot model folder (all layers dense: llama.cpp's gpt2 architecture)" };
    readonly Argument<string> output = new("out") { Description = "GGUF file to write" };
    readonly Option<string> type = new("--type") { Description = "Matrix type: f32, f16 or q8_0", DefaultValueFactory = _ => "f32" };

    public ExportGgufCommand() : base("export-gguf", "Export a model as GGUF for llama.cpp")
    {
        Arguments.Add(source);
        Arguments.Add(output);
        Options.Add(type);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var destination = parse.GetValue(output)!;
        var ggufType = GgufExport.ParseType(parse.GetValue(type))
            ?? throw new ArgumentException($"--type: unknown GGUF type '{parse.GetValue(type)}' (expected f32, f16 or q8_0)");
        var folder = parse.GetValue(source)!;
        var config = GptConfigOf(folder);
        if (GgufExport.Unsupported(config) is { } why) throw new ArgumentException($"{folder}: cannot export to GGUF: {why}");
        using var loaded = ModelFolder.Load(folder);
        GgufExport.Write(loaded.Model, loaded.Tokenizer, destination, ggufType, Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)));
        var bytes = new FileInfo(destination).Length;
        if (context.Json)
            context.WriteJson(new JsonObject { ["gguf"] = Path.GetFullPath(destination), ["type"] = parse.GetValue(type)!.ToLowerInvariant(), ["bytes"] = bytes });
        else
            context.Out.MarkupLine($"wrote [bold]{Markup.Escape(destination)}[/] ({Units.Bytes(bytes)}, {ggufType})");
        return Task.FromResult(ExitCodes.Success);
    }

    // The config alone, so that an architecture llama.cpp cannot run is refused before the weights load.
    static FewShot.Model.GptConfig GptConfigOf(string folder)
    {
        var path = Path.Combine(folder, ModelFolder.ConfigFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: missing (not a model folder)");
        return FewShot.Model.GptConfig.Load(path);
    }
}
