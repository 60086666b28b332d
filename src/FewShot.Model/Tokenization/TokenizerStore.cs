using System.Text.Json;

namespace FewShot.Model.Tokenization;

/// <summary>Saves and loads the tokenizer.json of a model or data folder, and resolves tokenizer names given on the command line.</summary>
public static class TokenizerStore
{
    public const string FileName = "tokenizer.json";

    /// <summary>Rebuilds a tokenizer from its description; file names in it are relative to <paramref name="folder"/>.</summary>
    public static ITokenizer Create(TokenizerDescription d, string folder) => d.Kind switch
    {
        "r50k_base" or "gpt2" => new Gpt2Tokenizer(),
        "char" => new CharTokenizer(d.Alphabet ?? throw new FormatException($"{Path.Combine(folder, FileName)}: field 'alphabet' is required for a char tokenizer")),
        "bytes" => new ByteTokenizer(),
        "ids" => new IdTokenizer(d.VocabSize, d.EndOfText),
        "bpe" => BpeTokenizer.Load(Path.Combine(folder, d.VocabFile ?? "vocab.json"), Path.Combine(folder, d.MergesFile ?? "merges.txt")),
        _ => throw new FormatException($"{Path.Combine(folder, FileName)}: unknown tokenizer kind '{d.Kind}'"),
    };

    /// <summary>A tokenizer for a command-line name: r50k_base (alias gpt2), bytes; char needs the training text.</summary>
    public static ITokenizer FromName(string name, string? textForAlphabet = null) => name.ToLowerInvariant() switch
    {
        "r50k_base" or "gpt2" => new Gpt2Tokenizer(),
        "bytes" => new ByteTokenizer(),
        "char" => CharTokenizer.FromText(textForAlphabet ?? throw new ArgumentException("the char tokenizer is built from the training text")),
        _ => throw new ArgumentException($"unknown tokenizer '{name}' (known: r50k_base, gpt2, char, bytes)"),
    };

    public static ITokenizer Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: missing (every model folder records its tokenizer)");
        TokenizerDescription? d;
        try { d = JsonSerializer.Deserialize<TokenizerDescription>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new FormatException($"{path}: {e.Message}"); }
        return Create(d ?? throw new FormatException($"{path}: empty"), folder);
    }

    /// <summary>Writes tokenizer.json and the files it names (a trained BPE's vocab.json and merges.txt), so the folder stands alone.</summary>
    public static void Save(ITokenizer tokenizer, string folder)
    {
        if (tokenizer is BpeTokenizer bpe) bpe.Save(folder);
        var path = Path.Combine(folder, FileName);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(tokenizer.Describe(), GptConfig.Indented));
    }
}
