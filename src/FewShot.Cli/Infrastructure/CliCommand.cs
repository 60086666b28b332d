using System.CommandLine;

namespace FewShot.Cli.Infrastructure;

/// <summary>
/// One subcommand. Subclasses declare their options in the constructor and implement <see cref="ExecuteAsync"/>, which
/// returns an exit code. Bad-input exceptions become one-line errors in <see cref="CommandRunner"/>.
/// </summary>
public abstract class CliCommand : Command
{
    protected CliCommand(string name, string description) : base(name, description)
    {
        Options.Add(CommonOptions.Json);
        Options.Add(CommonOptions.Verbose);
        SetAction((parse, cancel) => CommandRunner.RunAsync(this, parse, cancel));
    }

    public abstract Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel);
}

/// <summary>A command that only groups subcommands (e.g. "bench", "data").</summary>
public class CommandGroup : Command
{
    public CommandGroup(string name, string description, params Command[] children) : base(name, description)
    {
        foreach (var child in children) Subcommands.Add(child);
    }
}
