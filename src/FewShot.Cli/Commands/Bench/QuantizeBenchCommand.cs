using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;
using FewShot.Model.Inference;
using FewShot.Model.Storage;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench quantize --model DIR --text FILE: held-out perplexity with F32 and with Q8_0 weights.</summary>
public sealed class QuantizeBenchCommand : CliCommand
{
    readonly Option<string> model = CommonOptions.Model();
    readonly Option<string> text = new("--text") { Description = "Text file; its last --held-out fraction is scored", Required = true };
    readonly Option<double> heldOut = new("--held-out") { Description = "Fraction at the end of the text to score (nanoGPT's validation split: 0.1)", DefaultValueFactory = _ => 0.1 };
    readonly Option<int> threads = CommonOptions.Threads();

    public QuantizeBenchCommand() : base("quantize", "Measure the perplexity that Q8_0 weights cost against F32")
    {
        foreach (var o in new Option[] { model, text, heldOut, threads }) Options.Add(o);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var fraction = parse.GetValue(heldOut);
        if (fraction is <= 0 or > 1) throw new ArgumentException($"--held-out must be in (0, 1], got {fraction}");
        var path = parse.GetValue(text)!;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: text file not found");
        using var loaded = ModelFolder.Load(parse.GetValue(model)!);
        var content = File.ReadAllText(path);
        var tokens = loaded.Tokenizer.Encode(content[(int)(content.Length * (1 - fraction))..]);
        var threadCount = parse.GetValue(threads) > 0 ? parse.GetValue(threads) : Environment.ProcessorCount;
        var results = new[] { WeightFormat.F32, WeightFormat.Q8_0 }.Select(f => QuantizationBenchmark.Score(loaded.Model, tokens, f, threadCount)).ToArray();
        var json = new JsonObject
        {
            ["benchmark"] = "quantize",
            ["model"] = Path.GetFullPath(parse.GetValue(model)!),
            ["stored"] = WeightFormats.Name(loaded.Stored),
            ["held_out_tokens"] = results[0].Tokens,
            ["formats"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject
            {
                ["weights"] = r.Weights,
                ["weight_bytes_per_token"] = r.WeightBytesPerToken,
                ["mean_nll"] = Math.Round(r.MeanNll, 5),
                ["perplexity"] = Math.Round(r.Perplexity, 4),
            }).ToArray()),
            ["perplexity_ratio"] = Math.Round(results[1].Perplexity / results[0].Perplexity, 5),
        };
        BenchOutput.Write(context, json);
        return Task.FromResult(ExitCodes.Success);
    }
}
