using System.CommandLine;
using FewShot.Cli.Commands;
using FewShot.Cli.Commands.Access;
using FewShot.Cli.Commands.Bench;
using FewShot.Cli.Commands.Data;
using FewShot.Cli.Commands.Evaluation;
using FewShot.Cli.Commands.Serving;
using FewShot.Cli.Commands.Training;
using FewShot.Cli.Infrastructure;

namespace FewShot.Cli;

/// <summary>Every fewshot command, registered in one place.</summary>
public static class CommandLine
{
    /// <summary>
    /// How the commands run. Ctrl+C and SIGTERM cancel the running command's token (training then checkpoints where it
    /// stands; a benchmark stops its child processes) and the process exits once the command has, or after
    /// <see cref="StopTimeout"/>. System.CommandLine 2.0.0 leaves its termination timeout unset, which lets the
    /// signal end the process at once.
    /// </summary>
    public static InvocationConfiguration Invocation() => new() { ProcessTerminationTimeout = StopTimeout };

    /// <summary>Long enough for a large model's last checkpoint (~1.5 GB for 125M parameters with AdamW's moments).</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    public static RootCommand Build() => new("FewShot: GPT-3 in C# - data, training, few-shot evaluation, and a chat service with an OpenAI-compatible API")
    {
        new DemoCommand(),
        new InfoCommand(),
        new ImportHfCommand(),
        new ExportHfCommand(),
        new QuantizeCommand(),
        new ExportGgufCommand(),
        new SampleCommand(),
        new TrainCommand(),
        new RunsCommand(),
        new ScaleCommand(),
        new EvalCommand(),
        new ServeCommand(),
        new KeysCommand(),
        new UsageCommand(),
        new CommandGroup("data", "Prepare training data: mixtures, token shards, statistics, plans",
            new DataPrepareCommand(),
            new DataStatsCommand(),
            new DataPlanCommand()),
        new CommandGroup("tokenizer", "Tokenizers for small models",
            new TokenizerTrainCommand()),
        new CommandGroup("bench", "Benchmarks that print JSON with --json",
            new DecodeBenchCommand(),
            new QuantizeBenchCommand(),
            new AttentionBenchCommand(),
            new ContextBenchCommand(),
            new EvalBenchCommand(),
            new ServeBenchCommand(),
            new DataBenchCommand(),
            new TrainBenchCommand(),
            new ShakespeareBenchCommand(),
            new FirewallBenchCommand(),
            new GatewayBenchCommand()),
    };
}
