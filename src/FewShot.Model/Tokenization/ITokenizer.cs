namespace FewShot.Model.Tokenization;

/// <summary>Turns text into token ids and back. Every model folder names the tokenizer it was trained with.</summary>
public interface ITokenizer
{
    /// <summary>A short name for people: "r50k_base", "char", "bytes", "bpe-8192".</summary>
    string Name { get; }

    int VocabSize { get; }

    /// <summary>The id that separates documents (GPT-2's &lt;|endoftext|&gt;, 50256); -1 when the vocabulary has none.</summary>
    int EndOfText { get; }

    /// <summary>Encodes text; the literal string "&lt;|endoftext|&gt;" is not special here (use <see cref="EndOfText"/>).</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids; the end-of-text id decodes to nothing.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>What the model folder's tokenizer.json records so that <see cref="TokenizerStore.Load"/> can rebuild it.</summary>
    TokenizerDescription Describe();
}
