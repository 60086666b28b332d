using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Data.Bpe;
using FewShot.Model.Tokenization;
using Spectre.Console;

namespace FewShot.Cli.Commands.Data;

/// <summary>
/// fewshot tokenizer train (--mixture FILE|builtin | FILES...) --vocab N --out DIR: a byte-level BPE of N tokens,
/// written as tokenizer.json + vocab.json + merges.txt (copy them into a data or model folder).
/// </summary>
public sealed class TokenizerTrainCommand : CliCommand
{
    readonly Argument<string[]> files = new("files") { Description = "Text or JSON Lines files, folders or globs", Arity = ArgumentArity.ZeroOrMore };
    readonly Option<string?> mixture = new("--mixture") { Description = "Train on a mixture file's sources (or 'builtin'), each in proportion to its weight" };
    readonly Option<int> vocab = new("--vocab") { Description = "Vocabulary size (256 bytes + merges + end-of-text)", Required = true };
    readonly Option<string> output = new("--out") { Description = "Folder to write the tokenizer into", Required = true };

    public TokenizerTrainCommand() : base("train", "Train a byte-level BPE tokenizer on a corpus")
    {
        Arguments.Add(files);
        Options.Add(mixture);
        Options.Add(vocab);
        Options.Add(output);
    }

    public override Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var paths = parse.GetValue(files) ?? [];
        var mixtureName = parse.GetValue(mixture);
        if ((paths.Length == 0) == (mixtureName is null)) throw new ArgumentException("give either --mixture FILE|builtin or corpus FILES, not both and not neither");
        var size = parse.GetValue(vocab);
        if (size < 258) throw new ArgumentException($"--vocab must be at least 258 (256 bytes, one merge, end-of-text), got {size}");
        var outDir = parse.GetValue(output)!;

        var spec = mixtureName is null || mixtureName.Equals(DataArguments.Builtin, StringComparison.OrdinalIgnoreCase) ? null : DataArguments.LoadMixture(mixtureName);
        var clock = Stopwatch.StartNew();
        BpeTokenizer tokenizer = null!;
        context.Progress().Start(p =>
        {
            var bars = new StageProgressBars(p);
            if (mixtureName is not null) spec ??= DataArguments.LoadMixture(mixtureName, bars);
            tokenizer = spec is not null
                ? TokenizerTraining.Train(spec, size, outDir, progress: bars, cancel: cancel)
                : TokenizerTraining.Train(paths, size, outDir, progress: bars, cancel: cancel);
            bars.FinishAll();
        });
        var seconds = clock.Elapsed.TotalSeconds;

        if (spec is not null) foreach (var warning in spec.Warnings) context.Warn(warning);
        if (context.Json)
            context.WriteJson(new JsonObject
            {
                ["out_dir"] = Path.GetFullPath(outDir), ["tokenizer"] = tokenizer.Name, ["vocab_size"] = tokenizer.VocabSize,
                ["end_of_text"] = tokenizer.EndOfText, ["seconds"] = Math.Round(seconds, 2),
            });
        else
            context.Out.MarkupLine($"wrote [bold]{Markup.Escape(Path.Combine(outDir, TokenizerStore.FileName))}[/]: {Markup.Escape(tokenizer.Name)}, {tokenizer.VocabSize:N0} tokens, in {seconds:F1} s");
        return Task.FromResult(ExitCodes.Success);
    }
}
