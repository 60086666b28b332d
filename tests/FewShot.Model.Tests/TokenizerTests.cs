using System.Text.Json;
using FewShot.Model.Tokenization;

namespace FewShot.Model.Tests;

public sealed class TokenizerTests
{
    [Fact]
    public void Gpt2TokenizerAgreesWithAnIndependentEncoder()
    {
        var fixture = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("r50k-tokens.json"))).RootElement;
        var tokenizer = new Gpt2Tokenizer();
        var samples = fixture.GetProperty("samples").EnumerateArray().ToList();
        Assert.True(samples.Count >= 5);
        foreach (var sample in samples)
        {
            var text = sample.GetProperty("text").GetString()!;
            var expected = sample.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(expected, tokenizer.Encode(text));
            Assert.Equal(text, tokenizer.Decode(expected));
        }
    }

    [Fact]
    public void Gpt2TokenizerMatchesTheLibrarysOwnEncodingAlsoWhenCalledFromManyThreads()
    {
        // Our per-thread instances are built from the same ranks with our own copy of the pre-tokenization pattern:
        // they must give exactly the ids of the library's r50k_base, in any language and around end-of-text.
        var library = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("r50k_base");
        var shakespeare = File.ReadAllText(TestEnvironment.Shakespeare);
        var documents = Enumerable.Range(0, 200).Select(i => shakespeare.Substring(i * 5000, 5000))
            .Append("GPT-3 说中文 too 🎉 it's   spaced\t\ttabs 1234567 ẞ<|endoftext|>next").ToArray();
        var expected = documents.Select(d => library.EncodeToIds(d).ToArray()).ToArray();
        var tokenizer = new Gpt2Tokenizer();
        var actual = new int[documents.Length][];
        Parallel.For(0, documents.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => actual[i] = tokenizer.Encode(documents[i]));
        for (var i = 0; i < documents.Length; i++) Assert.Equal(expected[i], actual[i]);
        Assert.Contains(Gpt2Tokenizer.EndOfTextId, actual[^1]);
    }

    [Fact]
    public void Gpt2TokenizerHasTheR50kVocabulary()
    {
        var tokenizer = new Gpt2Tokenizer();
        Assert.Equal(50257, tokenizer.VocabSize);
        Assert.Equal(50256, tokenizer.EndOfText);
        Assert.Equal("", tokenizer.Decode([50256]));
    }

    [Fact]
    public void CharTokenizerRoundTripsShakespeareAndNamesUnknownCharacters()
    {
        var text = File.ReadAllText(TestEnvironment.Shakespeare);
        var tokenizer = CharTokenizer.FromText(text);
        Assert.Equal(65 + 1, tokenizer.VocabSize); // nanoGPT's 65 characters, plus end-of-text
        var sample = text[..2000];
        Assert.Equal(sample, tokenizer.Decode(tokenizer.Encode(sample)));
        var e = Assert.Throws<ArgumentException>(() => tokenizer.Encode("abc\u4e2d"));
        Assert.Contains("offset 3", e.Message);
    }

    [Fact]
    public void ByteTokenizerRoundTripsAnyLanguage()
    {
        var tokenizer = new ByteTokenizer();
        const string text = "GPT-3 说中文 too 🎉";
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void TokenizersRoundTripThroughTheirDescription()
    {
        using var folder = new TempFolder();
        foreach (ITokenizer tokenizer in new ITokenizer[] { new Gpt2Tokenizer(), new ByteTokenizer(), new CharTokenizer("abc \n"), new IdTokenizer(101, -1) })
        {
            TokenizerStore.Save(tokenizer, folder.Path);
            var again = TokenizerStore.Load(folder.Path);
            Assert.Equal(tokenizer.Describe(), again.Describe());
        }
    }
}
