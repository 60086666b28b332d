using System.CommandLine;
using FewShot.Model;

namespace FewShot.Cli.Commands.Bench;

/// <summary>The model shape options shared by the bench commands; defaults are the bench config (6 x 384, ctx 256, vocab 8192, batch 8).</summary>
public sealed class BenchShapeOptions
{
    public readonly Option<int> Layers = new("--layers") { DefaultValueFactory = _ => 6, Description = "Transformer layers" };
    public readonly Option<int> Heads = new("--heads") { DefaultValueFactory = _ => 6, Description = "Attention heads" };
    public readonly Option<int> Embedding = new("--embd") { DefaultValueFactory = _ => 384, Description = "d_model" };
    public readonly Option<int> Context = new("--ctx") { DefaultValueFactory = _ => 256, Description = "Context length" };
    public readonly Option<int> Vocab = new("--vocab") { DefaultValueFactory = _ => 8192, Description = "Vocabulary size" };
    public readonly Option<int> Batch = new("--batch") { DefaultValueFactory = _ => 8, Description = "Sequences per step (training)" };
    public readonly Option<string> Attention = new("--attention") { DefaultValueFactory = _ => "dense", Description = "Layer layout: dense, local, alternating, strided, fixed" };
    public readonly Option<int> Window = new("--window") { DefaultValueFactory = _ => 256, Description = "Window of local layers" };

    public IEnumerable<Option> All => [Layers, Heads, Embedding, Context, Vocab, Batch, Attention, Window];

    public GptConfig Config(ParseResult parse)
    {
        var layers = parse.GetValue(Layers);
        var kinds = parse.GetValue(Attention) switch
        {
            "alternating" => Enumerable.Range(0, layers).Select(i => i % 2 == 0 ? AttentionKind.Dense : AttentionKind.Local).ToArray(),
            var name => Enumerable.Repeat(AttentionLayout.Parse(name!, "--attention"), layers).ToArray(),
        };
        return new GptConfig
        {
            Layers = layers, Heads = parse.GetValue(Heads), Embedding = parse.GetValue(Embedding),
            ContextLength = parse.GetValue(Context), VocabSize = parse.GetValue(Vocab),
            AttentionTypes = kinds.All(k => k == AttentionKind.Dense) ? [] : kinds, Window = parse.GetValue(Window), SparseStride = parse.GetValue(Window),
        }.Validate();
    }
}
