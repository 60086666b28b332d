using System.CommandLine;
using FewShot.Cli.Infrastructure;
using FewShot.Benchmarks;
using FewShot.Training.Loop;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench train: training throughput through the real trainer next to the machine's matmul rate.</summary>
public sealed class TrainBenchCommand : CliCommand
{
    readonly BenchShapeOptions shape = new();
    readonly Option<int> steps = new("--steps") { DefaultValueFactory = _ => 30, Description = "Measured training steps (after 5 warm-up steps)" };
    readonly Option<int> threads = CommonOptions.Threads();
    readonly Option<string> precision = new("--precision") { DefaultValueFactory = _ => "fp32", Description = "Matrix products: fp32, or bf16 (mixed precision; needs AVX512-BF16)" };

    public TrainBenchCommand() : base("train", "Measure training tokens/s and model FLOP/s against the fp32 matmul rate")
    {
        foreach (var o in shape.All.Append(steps).Append(threads).Append(precision)) Options.Add(o);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var config = shape.Config(parse);
        var count = parse.GetValue(steps);
        if (count < 1) throw new ArgumentException($"--steps must be at least 1, got {count}");
        TrainBenchmarkResult result = null!;
        context.Progress().Start(p =>
        {
            var task = p.AddTask("training steps", maxValue: count);
            result = TrainBenchmark.Run(config, parse.GetValue(shape.Batch), count, parse.GetValue(threads), onStep: n => task.Value = n,
                precision: parse.GetValue(precision)!);
            task.Value = count;
        });

        var json = result.ToJson();
        json["benchmark"] = "train";
        json["config"] = config.ToJson();
        json["batch"] = parse.GetValue(shape.Batch);
        json["precision"] = parse.GetValue(precision);
        // The names the issue asks for, next to the library's own.
        json["tokens_per_s"] = json["tokens_per_second"]?.DeepClone();
        json["model_flops_per_s"] = json["model_flops_per_second"]?.DeepClone();
        json["matmul_flops_per_s"] = json["matmul_flops_per_second"]?.DeepClone();
        // An all-core measurement becomes this machine's fixed MFU reference when it beats the stored one.
        if (parse.GetValue(threads) == 0 && MachinePeak.Record(result.MatmulFlopsPerSecond)) context.Info($"stored as this machine's peak for MFU: {MachinePeak.StorePath}");
        json["mfu_peak_flops_per_s"] = MachinePeak.StoredCpuFlops();
        BenchOutput.Write(context, json, "breakdown");
        if (!context.Json) context.Info(result.Breakdown);
        return Task.FromResult(ExitCodes.Success);
    }
}
