using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace FewShot.Access.Keys;

/// <summary>What a key is for, told by its prefix.</summary>
public enum KeyKind { Personal, Public, Admin }

/// <summary>Why a presented string is not a well-formed key (checked without touching the database).</summary>
public enum KeyShape { Ok, Malformed, BadChecksum }

/// <summary>
/// The key format: PREFIX + 27 base62 characters of randomness (160 bits) + 6 base62 characters of CRC32 over everything
/// before them. Like GitHub's tokens, the prefix makes keys recognisable to secret scanners and the checksum rejects a
/// mistyped or truncated key without a database look-up. Only SHA-256 of the whole string is ever stored.
/// </summary>
public static class KeyFormat
{
    public const string PersonalPrefix = "fs-";
    public const string PublicPrefix = "fsp-";
    public const string AdminPrefix = "fsa-";
    public const int RandomBytes = 20;
    const int RandomChars = 27;   // ceil(160 / log2(62))
    const int ChecksumChars = 6;  // ceil(32 / log2(62))
    const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string Prefix(KeyKind kind) => kind switch
    {
        KeyKind.Public => PublicPrefix,
        KeyKind.Admin => AdminPrefix,
        _ => PersonalPrefix,
    };

    /// <summary>A fresh key of this kind from the operating system's cryptographic generator.</summary>
    public static string Generate(KeyKind kind) => FromBytes(kind, RandomNumberGenerator.GetBytes(RandomBytes));

    /// <summary>A key whose random part is the given bytes (the first 20 are used); the public key derives them with HMAC.</summary>
    public static string FromBytes(KeyKind kind, ReadOnlySpan<byte> random)
    {
        if (random.Length < RandomBytes) throw new ArgumentException($"a key needs {RandomBytes} random bytes");
        var body = Prefix(kind) + Base62(random[..RandomBytes], RandomChars);
        return body + Checksum(body);
    }

    /// <summary>Checks prefix, length, alphabet and checksum. Costs a CRC over ~30 bytes: cheap enough to run before anything else.</summary>
    public static KeyShape Check(string candidate, out KeyKind kind)
    {
        kind = KeyKind.Personal;
        if (candidate.StartsWith(PublicPrefix, StringComparison.Ordinal)) kind = KeyKind.Public;
        else if (candidate.StartsWith(AdminPrefix, StringComparison.Ordinal)) kind = KeyKind.Admin;
        else if (!candidate.StartsWith(PersonalPrefix, StringComparison.Ordinal)) return KeyShape.Malformed;

        var prefixLength = Prefix(kind).Length;
        if (candidate.Length != prefixLength + RandomChars + ChecksumChars) return KeyShape.Malformed;
        for (var i = prefixLength; i < candidate.Length; i++)
            if (Alphabet.IndexOf(candidate[i]) < 0) return KeyShape.Malformed;

        var body = candidate[..^ChecksumChars];
        var expected = Checksum(body);
        return string.Equals(expected, candidate[^ChecksumChars..], StringComparison.Ordinal) ? KeyShape.Ok : KeyShape.BadChecksum;
    }

    /// <summary>SHA-256 of the key's UTF-8 bytes: what the store keeps. Keys carry 160 random bits, so no salt or slow hash is needed.</summary>
    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>A display hint that identifies a key to its owner ("fs-…wxyz"); it reveals only checksum characters.</summary>
    public static string Hint(string key) => key[..key.IndexOf('-')] + "-…" + key[^4..];

    static string Checksum(string body)
    {
        Span<byte> crc = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32.Compute(Encoding.ASCII.GetBytes(body)));
        return Base62(crc, ChecksumChars);
    }

    static string Base62(ReadOnlySpan<byte> bigEndian, int width)
    {
        var value = new BigInteger(bigEndian, isUnsigned: true, isBigEndian: true);
        var chars = new char[width];
        for (var i = width - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value % 62)];
            value /= 62;
        }
        return new string(chars);
    }
}

/// <summary>CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum in keys.</summary>
static class Crc32
{
    static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }
}
