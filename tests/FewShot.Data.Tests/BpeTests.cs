using FewShot.Data.Bpe;
using FewShot.Model.Tokenization;

namespace FewShot.Data.Tests;

public class BpeTests
{
    static readonly Lazy<BpeTokenizer> Trained = new(() => BpeTrainer.Train(TestPaths.Speeches, 1024));

    [Fact]
    public void TrainedTokenizerRoundTripsAnyTextAndCompressesEnglish()
    {
        var tokenizer = Trained.Value;
        Assert.Equal(1024, tokenizer.VocabSize);
        Assert.Equal(1023, tokenizer.EndOfText);
        var text = File.ReadAllText(TestPaths.Shakespeare)[..20000];
        var ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.True(ids.Length < text.Length / 2, $"{ids.Length} tokens for {text.Length} characters");
        foreach (var other in new[] { "床前明月光，疑是地上霜。", "emoji 🎉 and tabs\tand\r\n", "  leading spaces and 12345 numbers" })
            Assert.Equal(other, tokenizer.Decode(tokenizer.Encode(other)));
    }

    [Fact]
    public void SavedTokenizerLoadsThroughTheTokenizerStore()
    {
        using var temp = new TempFolder();
        var tokenizer = Trained.Value;
        tokenizer.Save(temp.Path);
        TokenizerStore.Save(tokenizer, temp.Path);
        var loaded = TokenizerStore.Load(temp.Path);
        Assert.Equal("bpe-1024", loaded.Name);
        var text = TestPaths.Speeches[7];
        Assert.Equal(tokenizer.Encode(text), loaded.Encode(text));
        Assert.StartsWith("#version", File.ReadLines(Path.Combine(temp.Path, "merges.txt")).First());
        Assert.Equal(1024 - 257, File.ReadLines(Path.Combine(temp.Path, "merges.txt")).Count() - 1);
    }

    [Fact]
    public void TrainingIsDeterministic()
    {
        var again = BpeTrainer.Train(TestPaths.Speeches, 1024);
        var text = string.Join("\n", TestPaths.Speeches.Take(50));
        Assert.Equal(Trained.Value.Encode(text), again.Encode(text));
    }
}
