using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Benchmarks;
using FewShot.Cli.Infrastructure;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>fewshot bench firewall: the attack simulations of docs/security.md, one verdict per check; non-zero exit if any fails.</summary>
public sealed class FirewallBenchCommand : CliCommand
{
    public FirewallBenchCommand() : base("firewall", "Simulate key floods, budget races and measure the access checks' overhead") { }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var report = await FirewallBenchmark.RunAsync(new Progress<string>(context.Info));
        var checks = report.Checks().ToList();
        if (context.Json)
            context.WriteJson(new JsonObject
            {
                ["benchmark"] = "firewall",
                ["checks"] = new JsonArray(checks.Select(c => (JsonNode)new JsonObject { ["check"] = c.Check, ["passed"] = c.Passed, ["numbers"] = c.Numbers }).ToArray()),
                ["passed"] = checks.All(c => c.Passed),
            });
        else
        {
            var table = new Table().AddColumns("check", "result", "numbers");
            foreach (var (check, passed, numbers) in checks)
                table.AddRow(Markup.Escape(check), passed ? "[green]pass[/]" : "[red]FAIL[/]", Markup.Escape(numbers));
            context.Out.Write(table);
        }
        return checks.All(c => c.Passed) ? ExitCodes.Success : ExitCodes.Failure;
    }
}
