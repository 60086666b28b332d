using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;
using FewShot.Model.Inference;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench decode: batch-1 tokens/s of the fused decoder and of the TorchSharp path, next to the streaming bound.</summary>
public sealed class DecodeBenchCommand : CliCommand
{
    readonly BenchShapeOptions shape = new();
    readonly Option<int> tokens = new("--tokens") { DefaultValueFactory = _ => 2000, Description = "Tokens to generate with the fused decoder" };
    readonly Option<int> torchTokens = new("--torch-tokens") { DefaultValueFactory = _ => 500, Description = "Tokens to generate with the TorchSharp path in the same run (0: skip)" };
    readonly Option<string> weights = new("--weights") { DefaultValueFactory = _ => "f32", Description = "Weights of the fused decoder: f32 or q8_0" };
    readonly Option<string?> peer = new("--peer") { Description = "Also run llama.cpp on a GGUF export of the same weights (same format): llama.cpp" };
    readonly Option<int> threads = CommonOptions.Threads();

    public DecodeBenchCommand() : base("decode", "Measure batch-1 decoding against the weight-streaming bound")
    {
        foreach (var o in shape.All.Append(tokens).Append(torchTokens).Append(weights).Append(peer).Append(threads)) Options.Add(o);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        CommonOptions.ResolveDevice("cpu", parse.GetValue(threads));
        var format = WeightFormats.Parse(parse.GetValue(weights))
            ?? throw new ArgumentException($"--weights: unknown format '{parse.GetValue(weights)}' (expected f32 or q8_0)");
        var peerName = parse.GetValue(peer);
        if (peerName is not null && peerName != "llama.cpp") throw new ArgumentException($"--peer: unknown peer '{peerName}' (expected llama.cpp)");
        var config = shape.Config(parse);
        if (peerName is not null && GgufExport.Unsupported(config) is { } why) throw new ArgumentException($"--peer llama.cpp: {why}");
        var count = parse.GetValue(tokens);
        var threadCount = TorchSharp.torch.get_num_threads();
        var gguf = Path.Combine(Path.GetTempPath(), $"fewshot-decode-{Environment.ProcessId}.gguf");
        DecodeResult result = null!;
        double? peerRate = null;
        try
        {
            context.Progress().Start(p =>
            {
                var task = p.AddTask("decoding", maxValue: count);
                // The peer reads a GGUF export of the very weights the fused decoder runs, in the same format.
                Action<FewShot.Model.Gpt>? export = peerName is null ? null
                    : model => GgufExport.Write(model, new IdTokenizer(config.VocabSize, -1), gguf, format == WeightFormat.Q8_0 ? GgufType.Q8_0 : GgufType.F32);
                result = DecodeBenchmark.Run(config, count, format, threadCount, parse.GetValue(torchTokens), new Progress<int>(n => task.Value = n), export);
                task.Value = count;
                if (peerName is not null) peerRate = LlamaCppPeer.TokensPerSecond(gguf, config.ContextLength, config.VocabSize, count, threadCount);
            });
        }
        finally
        {
            File.Delete(gguf);
        }

        var json = new JsonObject
        {
            ["benchmark"] = "decode",
            ["config"] = config.ToJson(),
            ["threads"] = threadCount,
            ["weights"] = result.Weights,
            ["parameters"] = result.Parameters,
            ["tokens"] = result.Tokens,
            ["seconds"] = Math.Round(result.Seconds, 3),
            ["tokens_per_s"] = Math.Round(result.TokensPerSecond, 1),
            ["torch_tokens_per_s"] = result.TorchTokensPerSecond is { } torch ? Math.Round(torch, 1) : null,
            ["peer"] = peerName,
            ["peer_tokens_per_s"] = peerRate is { } rate ? Math.Round(rate, 1) : null,
            ["weight_bytes_per_token"] = result.WeightBytesPerToken,
            ["stream_bytes_per_s"] = Math.Round(result.StreamBytesPerSecond),
            ["matvec_bytes_per_s"] = Math.Round(result.MatvecBytesPerSecond),
            ["bound_tokens_per_s"] = Math.Round(result.BoundTokensPerSecond, 1),
            ["fraction_of_bound"] = Math.Round(result.FractionOfBound, 3),
            ["rss_after_warmup_bytes"] = result.ResidentBytesAfterWarmup,
            ["rss_after_bytes"] = result.ResidentBytesAfter,
            ["rss_growth_bytes"] = result.ResidentBytesAfter - result.ResidentBytesAfterWarmup,
        };
        BenchOutput.Write(context, json);
        return Task.FromResult(ExitCodes.Success);
    }
}
