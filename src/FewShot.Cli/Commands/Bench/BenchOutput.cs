using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using Spectre.Console;

namespace FewShot.Cli.Commands.Bench;

/// <summary>A benchmark's result: the JSON object with --json, else a measure/value table of its scalar fields.</summary>
static class BenchOutput
{
    public static void Write(CliContext context, JsonObject result, params string[] leaveOutOfTable)
    {
        if (context.Json)
        {
            context.WriteJson(result);
            return;
        }
        var table = new Table().AddColumns("measure", "value");
        foreach (var (key, value) in result)
            if (key != "config" && !leaveOutOfTable.Contains(key)) table.AddRow(key, Markup.Escape(value?.ToJsonString() ?? ""));
        context.Out.Write(table);
    }
}
