using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Data;
using Spectre.Console;

namespace FewShot.Cli.Commands.Data;

/// <summary>fewshot data stats DIR: documents, tokens and text bytes of a prepared data folder, in total and per source.</summary>
public sealed class DataStatsCommand : CliCommand
{
    readonly Argument<string> folder = new("dir") { Description = "A data folder written by 'fewshot data prepare'" };

    public DataStatsCommand() : base("stats", "Show what a prepared data folder holds")
    {
        Arguments.Add(folder);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var stats = DataStats.Read(parse.GetValue(folder)!);
        if (context.Json)
        {
            context.WriteJson(JsonSerializer.SerializeToNode(stats)!);
            return Task.FromResult(ExitCodes.Success);
        }
        var table = new Table().AddColumns("source", "weight", "documents", "tokens", "text", "val documents", "val tokens");
        foreach (var column in table.Columns.Skip(1)) column.RightAligned();
        foreach (var s in stats.Sources)
            table.AddRow(Markup.Escape(s.Name), $"{s.Weight:P1}", $"{s.Documents:N0}", $"{s.Tokens:N0}", Units.Bytes(s.TextBytes), $"{s.ValDocuments:N0}", $"{s.ValTokens:N0}");
        table.AddRow("[bold]total[/]", "", $"{stats.Documents:N0}", $"{stats.Tokens:N0}", Units.Bytes(stats.TextBytes),
            $"{stats.Sources.Sum(s => s.ValDocuments):N0}", $"{stats.Sources.Sum(s => s.ValTokens):N0}");
        table.Caption(Markup.Escape($"{stats.Tokenizer} ({stats.VocabSize:N0} tokens, {stats.Dtype}), {stats.Shards} shards"));
        context.Out.Write(table);
        return Task.FromResult(ExitCodes.Success);
    }
}
