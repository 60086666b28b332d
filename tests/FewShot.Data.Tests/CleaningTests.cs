using FewShot.Data.Cleaning;

namespace FewShot.Data.Tests;

public class CleaningTests
{
    static readonly CleaningOptions Options = new() { MinChars = 5, MaxChars = 1000 };

    [Fact]
    public void NormalisesToNfcAndStripsControlCharacters()
    {
        var result = TextCleaner.Clean("Cafe\u0301 au lait\u0007 and\r\ntea\u0000 \t", Options);
        Assert.Equal("Café au lait and\ntea", result.Text);
        Assert.False(result.Repaired);
    }

    [Fact]
    public void KeepsChineseText()
    {
        const string text = "床前明月光，疑是地上霜。举头望明月，低头思故乡。";
        Assert.Equal(text, TextCleaner.Clean(text, Options).Text);
    }

    [Fact]
    public void RepairsAFewInvalidBytesAndDropsMostlyInvalidText()
    {
        var decoded = System.Text.Encoding.UTF8.GetString([.. "Hello world, this is fine text "u8, 0xFF, .. "and more of it here"u8]);
        var repaired = TextCleaner.Clean(decoded, Options with { MaxInvalidShare = 0.05 });
        Assert.True(repaired.Repaired);
        Assert.Equal("Hello world, this is fine text and more of it here", repaired.Text);
        var garbage = System.Text.Encoding.UTF8.GetString([0xFF, 0xFE, 0xC3, 0x28, .. "abcdef"u8]);
        Assert.Equal(DropReason.InvalidUtf8, TextCleaner.Clean(garbage, Options).Reason);
    }

    [Fact]
    public void EnforcesLengthLimits()
    {
        Assert.Equal(DropReason.TooShort, TextCleaner.Clean("abc", Options).Reason);
        Assert.Equal(DropReason.TooLong, TextCleaner.Clean(new string('a', 1001), Options).Reason);
        Assert.Equal(DropReason.Empty, TextCleaner.Clean(" \u0001 \n", Options).Reason);
    }
}
