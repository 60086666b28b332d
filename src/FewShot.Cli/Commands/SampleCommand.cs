using System.CommandLine;
using System.Text.Json.Nodes;
using FewShot.Cli.Infrastructure;
using FewShot.Model.Generation;
using FewShot.Model.Inference;
using FewShot.Model.Storage;

namespace FewShot.Cli.Commands;

/// <summary>fewshot sample --model DIR (--prompt TEXT | --prompt-ids 7,42,3): generate text, streamed as it is decoded.</summary>
public sealed class SampleCommand : CliCommand
{
    readonly Option<string> model = CommonOptions.Model();
    readonly Option<string?> prompt = new("--prompt") { Description = "Prompt text" };
    readonly Option<string?> promptIds = new("--prompt-ids") { Description = "Prompt as comma-separated token ids, e.g. 7,42,3" };
    readonly Option<int> maxTokens = new("--max-tokens") { Description = "Tokens to generate", DefaultValueFactory = _ => 100 };
    readonly Option<double> temperature = new("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0.8 };
    readonly Option<int> topK = new("--top-k") { Description = "Sample among the K most likely tokens (0 = all)", DefaultValueFactory = _ => 0 };
    readonly Option<double> topP = new("--top-p") { Description = "Nucleus sampling threshold", DefaultValueFactory = _ => 1.0 };
    readonly Option<long?> seed = new("--seed") { Description = "Random seed" };
    readonly Option<string[]> stop = new("--stop") { Description = "Stop before this string (repeatable)", AllowMultipleArgumentsPerToken = false };
    readonly Option<int> samples = new("--num-samples") { Description = "Independent samples, decoded together as a batch", DefaultValueFactory = _ => 1 };
    readonly Option<bool> truncate = new("--truncate-left") { Description = "Drop the oldest prompt tokens when the prompt does not fit the context" };
    readonly Option<string?> weights = new("--weights") { Description = "Decoding: f32 or q8_0 (fused CPU decoder), torch (TorchSharp); default: the folder's stored format" };
    readonly Option<string> device = CommonOptions.Device();
    readonly Option<int> threads = CommonOptions.Threads();

    public SampleCommand() : base("sample", "Generate text from a model")
    {
        foreach (var o in new Option[] { model, prompt, promptIds, maxTokens, temperature, topK, topP, seed, stop, samples, truncate, weights, device, threads })
            Options.Add(o);
    }

    public override async Task<int> ExecuteAsync(ParseResult parse, CliContext context, CancellationToken cancel)
    {
        var text = parse.GetValue(prompt);
        var ids = parse.GetValue(promptIds);
        if (text is not null && ids is not null) throw new ArgumentException("give --prompt or --prompt-ids, not both");
        var count = parse.GetValue(samples);
        if (count < 1) throw new ArgumentException($"--num-samples must be at least 1, got {count}");

        var torchDevice = CommonOptions.ResolveDevice(parse.GetValue(device)!, parse.GetValue(threads));
        using var loaded = ModelFolder.Load(parse.GetValue(model)!, torchDevice);
        var promptTokens = ids is not null ? ParseIds(ids) : loaded.Tokenizer.Encode(text ?? "");
        var options = new SamplingOptions
        {
            MaxNewTokens = parse.GetValue(maxTokens),
            Temperature = parse.GetValue(temperature),
            TopK = parse.GetValue(topK),
            TopP = parse.GetValue(topP),
            Seed = parse.GetValue(seed),
            Stop = parse.GetValue(stop) ?? [],
            TruncateLeft = parse.GetValue(truncate),
        }.Validate();

        var decoding = parse.GetValue(weights);
        if (decoding is not null && decoding != "torch" && WeightFormats.Parse(decoding) is null)
            throw new ArgumentException($"--weights: unknown format '{decoding}' (expected f32, q8_0 or torch)");
        using var fused = decoding == "torch" || torchDevice.type != TorchSharp.DeviceType.CPU ? null
            : FusedDecoding.From(loaded.Model, WeightFormats.Parse(decoding) ?? loaded.Stored, parse.GetValue(threads));
        var generator = new TextGenerator(loaded.Model, loaded.Tokenizer, fused);
        if (context.Json || count > 1)
        {
            var results = await Task.Run(() => generator.Generate(Enumerable.Repeat(promptTokens, count).ToArray(), options, cancel), cancel);
            if (context.Json)
            {
                var items = results.Select(r => new JsonObject
                {
                    ["prompt_ids"] = new JsonArray(r.PromptIds.Select(i => (JsonNode)i).ToArray()),
                    ["ids"] = new JsonArray(r.Ids.Select(i => (JsonNode)i).ToArray()),
                    ["text"] = r.Text,
                    ["finish_reason"] = r.FinishReason,
                }).ToArray();
                context.WriteJson(items.Length == 1 ? items[0] : new JsonObject { ["samples"] = new JsonArray(items) });
            }
            else
            {
                foreach (var r in results) context.WriteText($"{text}{r.Text}\n---\n");
            }
            return ExitCodes.Success;
        }

        context.WriteText(text ?? "");
        await foreach (var chunk in generator.StreamAsync(promptTokens, options, cancel)) context.WriteText(chunk.Text);
        context.WriteText(Environment.NewLine);
        return ExitCodes.Success;
    }

    static int[] ParseIds(string list)
    {
        var parts = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return parts.Select((p, i) => int.TryParse(p, out var id)
            ? id
            : throw new ArgumentException($"--prompt-ids: item {i + 1} ('{p}') is not an integer token id")).ToArray();
    }
}
