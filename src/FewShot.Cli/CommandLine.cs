using System.CommandLine;
using FewShot.Cli.Commands;
using FewShot.Cli.Infrastructure;

namespace FewShot.Cli;

/// <summary>Every fewshot command, registered in one place.</summary>
public static class CommandLine
{
    public static RootCommand Build() =>
    [
        new InfoCommand(),
        new ImportHfCommand(),
        new ExportHfCommand(),
        new SampleCommand(),
        new FewShot.Cli.Commands.Training.TrainCommand(),
        new FewShot.Cli.Commands.Training.RunsCommand(),
        new FewShot.Cli.Commands.Training.ScaleCommand(),
    ];
}
