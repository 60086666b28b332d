using System.Text.Json;
using FewShot.Cli.Infrastructure;
using Spectre.Console.Testing;

namespace FewShot.Cli.Tests;

/// <summary>What one in-process run of the fewshot command produced.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr, string Tables, string Status)
{
    /// <summary>The one JSON object a --json run printed on stdout.</summary>
    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement;

    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}\ntables: {Tables}\nstatus: {Status}";
}

/// <summary>Runs the fewshot command line in-process with Spectre's TestConsole and string writers in place of the terminal.</summary>
public static class Cli
{
    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var tables = new TestConsole().Width(250);
        var status = new TestConsole().Width(250).Interactive();
        var previous = CommandRunner.ContextFactory;
        CommandRunner.ContextFactory = (json, verbose) => new CliContext(tables, status, stdout, stderr, json, verbose);
        try
        {
            var exit = CommandLine.Build().Parse(args).Invoke();
            return new CliResult(exit, stdout.ToString(), stderr.ToString(), tables.Output, status.Output);
        }
        finally { CommandRunner.ContextFactory = previous; }
    }
}
