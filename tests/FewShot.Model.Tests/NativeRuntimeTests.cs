using System.Text;
using FewShot.Model.Runtime;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

public sealed class NativeRuntimeTests
{
    static string ShippedLibrary()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), $"{path} not found");
        return path;
    }

    [Fact]
    public void PatchRemovesTheGcc13VersionRequirementWithoutMovingBytes()
    {
        var original = File.ReadAllBytes(ShippedLibrary());
        Assert.True(LibStdCxxCompatibility.NeedsPatch(original));
        var patched = LibStdCxxCompatibility.Patch(original);

        Assert.Equal(original.Length, patched.Length);
        Assert.False(LibStdCxxCompatibility.NeedsPatch(patched));
        var text = Encoding.ASCII.GetString(patched);
        // As whole strings (the static .strtab keeps "...initv@GLIBCXX_3.4.32" for debuggers; the loader never reads it).
        Assert.Contains("\0" + LibStdCxxCompatibility.MissingVersion + "\0", Encoding.ASCII.GetString(original), StringComparison.Ordinal);
        Assert.DoesNotContain("\0" + LibStdCxxCompatibility.MissingVersion + "\0", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\0" + LibStdCxxCompatibility.MissingSymbol + "\0", text, StringComparison.Ordinal);
        // Only .dynstr names and one hash change: a few dozen bytes.
        var changed = original.Zip(patched).Count(p => p.First != p.Second);
        Assert.InRange(changed, 1, 64);
    }

    [Fact]
    public void ElfHashMatchesTheSystemVDefinition()
    {
        // printf's hash is the System V ABI's textbook value; GLIBCXX_3.4.20's is what glibc's own tables hold.
        Assert.Equal(0x077905a6u, LibStdCxxCompatibility.ElfHash("printf"));
        Assert.Equal(0x0297f870u, LibStdCxxCompatibility.ElfHash("GLIBCXX_3.4.20"));
    }

    [Fact]
    public void TorchSharpLoadsAndComputes()
    {
        var product = ones(2, 3).matmul(ones(3, 4));
        Assert.Equal(3f, product[1, 2].item<float>());
        Assert.NotEqual("not loaded", NativeRuntime.LoadedAs);
    }

    [Fact]
    public void NotAnElfFileIsRejected()
    {
        Assert.Throws<InvalidDataException>(() => LibStdCxxCompatibility.NeedsPatch(new byte[128]));
    }
}
