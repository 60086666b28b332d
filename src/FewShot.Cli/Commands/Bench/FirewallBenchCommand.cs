using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Access.Limits;
using FewShot.Access.Storage;
using FewShot.Benchmarks;
using FewShot.Cli.Infrastructure;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>
/// fewshot bench firewall: the attack simulations of docs/security.md, one verdict per check; non-zero exit if any fails.
/// With --store and --limits (PostgreSQL and Redis): admission overhead and admissions per second across three instances.
/// </summary>
public sealed class FirewallBenchCommand : CliCommand
{
    readonly Option<string?> store = new("--store") { Description = "A shared store, postgres://USER:PASSWORD@HOST:PORT/DB (with --limits)" };
    readonly Option<string?> limits = new("--limits") { Description = "Shared limits, redis://HOST:PORT[/DB] (with --store)" };
    readonly Option<int> requests = new("--requests") { Description = "With --store: gated and ungated requests for the overhead", DefaultValueFactory = _ => 2000 };
    readonly Option<double> seconds = new("--seconds") { Description = "With --store: how long the three-instance throughput runs", DefaultValueFactory = _ => 5 };
    readonly Option<int> clients = new("--clients") { Description = "With --store: concurrent clients for the throughput", DefaultValueFactory = _ => 64 };
    readonly Option<string> outboxSync = new("--outbox-sync") { Description = "With --store: the instances' Access:OutboxSync, full (fsync per commit) or normal", DefaultValueFactory = _ => "full" };

    public FirewallBenchCommand() : base("firewall", "Simulate key floods, budget races and measure the access checks' overhead")
    {
        foreach (var o in new Option[] { store, limits, requests, seconds, clients, outboxSync }) Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var (storeValue, limitsValue) = (parse.GetValue(store), parse.GetValue(limits));
        if (storeValue is not null || limitsValue is not null) return await SharedAsync(parse, storeValue, limitsValue, context);
        var report = await FirewallBenchmark.RunAsync(new Progress<string>(context.Info));
        return Verdicts(context, report.Checks().ToList(), new JsonObject { ["benchmark"] = "firewall" });
    }

    async Task<int> SharedAsync(ParseResult parse, string? storeValue, string? limitsValue, CliContext context)
    {
        if (storeValue is null || limitsValue is null) throw new ArgumentException("--store and --limits go together: postgres://... and redis://...");
        var location = StoreLocation.Parse(storeValue, "--store");
        if (!location.IsPostgres) throw new ArgumentException("--store: the shared benchmark needs postgres://USER:PASSWORD@HOST:PORT/DB");
        if (LimitsLocation.Parse(limitsValue, "--limits").Redis is null) throw new ArgumentException("--limits: the shared benchmark needs redis://HOST:PORT[/DB]");
        var (count, length, concurrency) = (parse.GetValue(requests), parse.GetValue(seconds), parse.GetValue(clients));
        if (count <= 0 || length <= 0 || concurrency <= 0) throw new ArgumentException("--requests, --seconds and --clients must be positive");
        var sync = parse.GetValue(outboxSync)!;
        if (sync is not ("full" or "normal")) throw new ArgumentException($"--outbox-sync: '{sync}' is neither full nor normal");
        var report = await SharedFirewallBenchmark.RunAsync(storeValue, limitsValue, count, TimeSpan.FromSeconds(length), concurrency,
            new Progress<string>(context.Info), sync);
        var o = report.Overhead;
        return Verdicts(context, report.Checks().ToList(), new JsonObject
        {
            ["benchmark"] = "firewall_shared",
            ["store"] = location.Describe(),
            ["outbox_sync"] = sync,
            ["admission_p50_ms"] = Math.Round(o.P50OverheadMs, 3),
            ["admission_p99_ms"] = Math.Round(o.P99OverheadMs, 3),
            ["server_gated_p50_ms"] = Math.Round(o.ServerGated.P50, 3),
            ["server_gated_p99_ms"] = Math.Round(o.ServerGated.P99, 3),
            ["server_ungated_p50_ms"] = Math.Round(o.ServerUngated.P50, 3),
            ["server_ungated_p99_ms"] = Math.Round(o.ServerUngated.P99, 3),
            ["client_p50_overhead_ms"] = Math.Round(o.ClientP50OverheadMs, 3),
            ["client_p99_overhead_ms"] = Math.Round(o.ClientP99OverheadMs, 3),
            ["admissions_per_s"] = Math.Round(report.AdmissionsPerSecond, 1),
            ["ungated_per_s"] = Math.Round(report.UngatedPerSecond, 1),
            ["instances"] = report.Instances,
            ["clients"] = report.Concurrency,
            ["admitted"] = report.Gated.Succeeded,
            ["refused"] = report.Gated.Failed,
            ["load_average_before"] = report.LoadBefore,
            ["load_average_after"] = report.LoadAfter,
        });
    }

    static int Verdicts(CliContext context, List<(string Check, bool Passed, string Numbers)> checks, JsonObject result)
    {
        if (context.Json)
        {
            result["checks"] = new JsonArray(checks.Select(c => (JsonNode)new JsonObject { ["check"] = c.Check, ["passed"] = c.Passed, ["numbers"] = c.Numbers }).ToArray());
            result["passed"] = checks.All(c => c.Passed);
            context.WriteJson(result);
        }
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
