using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench decode: batch-1 tokens/s with the KV cache next to the weight-streaming bound.</summary>
public sealed class DecodeBenchCommand : CliCommand
{
    readonly BenchShapeOptions shape = new();
    readonly Option<int> tokens = new("--tokens") { DefaultValueFactory = _ => 2000, Description = "Tokens to generate" };
    readonly Option<int> threads = CommonOptions.Threads();

    public DecodeBenchCommand() : base("decode", "Measure batch-1 decoding against the weight-streaming bound")
    {
        foreach (var o in shape.All.Append(tokens).Append(threads)) Options.Add(o);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        CommonOptions.ResolveDevice("cpu", parse.GetValue(threads));
        var config = shape.Config(parse);
        var count = parse.GetValue(tokens);
        DecodeResult result = null!;
        context.Progress().Start(p =>
        {
            var task = p.AddTask("decoding", maxValue: count);
            result = DecodeBenchmark.Run(config, count, new Progress<int>(n => task.Value = n));
            task.Value = count;
        });

        var json = new JsonObject
        {
            ["benchmark"] = "decode",
            ["config"] = config.ToJson(),
            ["threads"] = TorchSharp.torch.get_num_threads(),
            ["parameters"] = result.Parameters,
            ["tokens"] = result.Tokens,
            ["seconds"] = Math.Round(result.Seconds, 3),
            ["tokens_per_s"] = Math.Round(result.TokensPerSecond, 1),
            ["weight_bytes_per_token"] = result.WeightBytesPerToken,
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
