using FewShot.Access.Keys;

namespace FewShot.Access.Tests;

public class KeyFormatTests
{
    [Fact]
    public void GeneratedKeysHaveThePrefixAPassingChecksumAndAreDistinct()
    {
        var keys = Enumerable.Range(0, 2000).Select(_ => KeyFormat.Generate(KeyKind.Personal)).ToList();
        Assert.All(keys, k =>
        {
            Assert.StartsWith("fs-", k);
            Assert.Equal(KeyShape.Ok, KeyFormat.Check(k, out var kind));
            Assert.Equal(KeyKind.Personal, kind);
        });
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(KeyShape.Ok, KeyFormat.Check(KeyFormat.Generate(KeyKind.Admin), out var admin));
        Assert.Equal(KeyKind.Admin, admin);
    }

    [Fact]
    public void EveryOneCharacterTypoFailsTheChecksum()
    {
        var key = KeyFormat.Generate(KeyKind.Personal);
        var alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        var passed = 0;
        for (var i = 3; i < key.Length; i++)
            foreach (var c in alphabet.Where(c => c != key[i]).Take(5))
            {
                var typo = key[..i] + c + key[(i + 1)..];
                if (KeyFormat.Check(typo, out _) == KeyShape.Ok) passed++;
            }
        Assert.Equal(0, passed);
    }

    [Fact]
    public void TruncatedOrForeignKeysAreMalformed()
    {
        var key = KeyFormat.Generate(KeyKind.Personal);
        Assert.Equal(KeyShape.Malformed, KeyFormat.Check(key[..^1], out _));
        Assert.Equal(KeyShape.Malformed, KeyFormat.Check(key + "x", out _));
        Assert.Equal(KeyShape.Malformed, KeyFormat.Check("sk-" + key[3..], out _));
        Assert.Equal(KeyShape.Malformed, KeyFormat.Check(key[..10] + "!" + key[11..], out _));
    }

    [Fact]
    public void KeysCarryAtLeast128RandomBitsAndOnlyTheHashIsDerived()
    {
        Assert.True(KeyFormat.RandomBytes * 8 >= 128);
        var key = KeyFormat.Generate(KeyKind.Personal);
        Assert.Equal(32, KeyFormat.Hash(key).Length);
        Assert.DoesNotContain(key[3..^6], KeyFormat.Hint(key));
    }
}
