using System.Buffers.Binary;
using System.Text;

namespace FewShot.Model.Runtime;

/// <summary>
/// Rewrites a copy of TorchSharp's <c>libLibTorchSharp.so</c> so that it loads with a libstdc++ older than GCC 13.
/// </summary>
/// <remarks>
/// The shipped library needs exactly one symbol from GCC 13's libstdc++ (version GLIBCXX_3.4.32):
/// <c>std::ios_base_library_init()</c>, which GCC 13 emits a call to from every translation unit that includes
/// &lt;iostream&gt;. Older libstdc++ initialises the standard streams on its own, so the call can be pointed at any
/// harmless argument-free function instead. This edit renames the undefined symbol in <c>.dynstr</c> to
/// <c>std::get_new_handler()</c> (GLIBCXX_3.4.20, same or shorter name, NUL-padded) and renames the version
/// requirement in <c>.gnu.version_r</c> from GLIBCXX_3.4.32 to GLIBCXX_3.4.20, recomputing its ELF hash.
/// No bytes move, so every offset in the file stays valid.
/// </remarks>
public static class LibStdCxxCompatibility
{
    public const string MissingSymbol = "_ZSt21ios_base_library_initv";
    public const string StandInSymbol = "_ZSt15get_new_handlerv";
    public const string MissingVersion = "GLIBCXX_3.4.32";
    public const string StandInVersion = "GLIBCXX_3.4.20";

    const uint SectionTypeVersionNeeds = 0x6ffffffe; // SHT_GNU_verneed

    /// <summary>True when the library asks for the GCC 13 symbol that this class knows how to replace.</summary>
    public static bool NeedsPatch(ReadOnlySpan<byte> elf) => FindVersionNeed(elf, out _, out _) >= 0;

    /// <summary>Returns a patched copy of the ELF image; throws <see cref="InvalidDataException"/> if its layout is not the expected one.</summary>
    public static byte[] Patch(ReadOnlySpan<byte> original)
    {
        var elf = original.ToArray();
        var auxOffset = FindVersionNeed(elf, out var dynstrOffset, out var dynstrSize);
        if (auxOffset < 0) throw new InvalidDataException($"no {MissingVersion} version requirement found");

        var dynstr = elf.AsSpan((int)dynstrOffset, (int)dynstrSize);
        var replaced = ReplaceString(dynstr, MissingSymbol, StandInSymbol);
        if (replaced == 0) throw new InvalidDataException($"symbol {MissingSymbol} not found in .dynstr");

        // Vernaux: vna_hash(4) vna_flags(2) vna_other(2) vna_name(4) vna_next(4).
        var nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(auxOffset + 8));
        var name = dynstr[(int)nameOffset..];
        Encoding.ASCII.GetBytes(StandInVersion).CopyTo(name); // same length as MissingVersion
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(auxOffset), ElfHash(StandInVersion));
        return elf;
    }

    /// <summary>The System V ELF hash that <c>vna_hash</c> holds.</summary>
    public static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (var c in Encoding.ASCII.GetBytes(name))
        {
            h = (h << 4) + c;
            var g = h & 0xf0000000;
            if (g != 0) h ^= g >> 24;
            h &= ~g;
        }
        return h;
    }

    // Returns the file offset of the vernaux entry naming MissingVersion, or -1.
    static int FindVersionNeed(ReadOnlySpan<byte> elf, out ulong dynstrOffset, out ulong dynstrSize)
    {
        dynstrOffset = dynstrSize = 0;
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("not a little-endian 64-bit ELF file");

        var sectionTable = (int)BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]);
        int entrySize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);

        for (var i = 0; i < count; i++)
        {
            var header = elf.Slice(sectionTable + i * entrySize, entrySize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != SectionTypeVersionNeeds) continue;

            // sh_link of .gnu.version_r is the string table its names live in (.dynstr).
            var link = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[40..]);
            var strings = elf.Slice(sectionTable + link * entrySize, entrySize);
            dynstrOffset = BinaryPrimitives.ReadUInt64LittleEndian(strings[24..]);
            dynstrSize = BinaryPrimitives.ReadUInt64LittleEndian(strings[32..]);
            var dynstr = elf.Slice((int)dynstrOffset, (int)dynstrSize);

            var need = (int)BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
            var needCount = BinaryPrimitives.ReadUInt32LittleEndian(header[44..]); // sh_info = number of Verneed entries
            for (var n = 0; n < needCount; n++)
            {
                // Verneed: vn_version(2) vn_cnt(2) vn_file(4) vn_aux(4) vn_next(4).
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(elf[(need + 2)..]);
                var aux = need + (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(need + 8)..]);
                for (var a = 0; a < auxCount; a++)
                {
                    var nameOffset = (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(aux + 8)..]);
                    if (ReadString(dynstr, nameOffset) == MissingVersion) return aux;
                    aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(aux + 12)..]);
                }
                need += (int)BinaryPrimitives.ReadUInt32LittleEndian(elf[(need + 12)..]);
            }
        }
        return -1;
    }

    static string ReadString(ReadOnlySpan<byte> table, int offset)
    {
        var end = table[offset..].IndexOf((byte)0);
        return Encoding.ASCII.GetString(table.Slice(offset, end));
    }

    // Overwrites every NUL-terminated occurrence of `from` with `to`, NUL-padded; returns how many.
    static int ReplaceString(Span<byte> table, string from, string to)
    {
        var needle = Encoding.ASCII.GetBytes(from + "\0");
        var replacement = new byte[needle.Length];
        Encoding.ASCII.GetBytes(to).CopyTo(replacement, 0);
        var count = 0;
        for (var at = table.IndexOf(needle); at >= 0; at = NextIndex(table, needle, at))
        {
            // Only whole strings: the byte before must end the previous string.
            if (at > 0 && table[at - 1] != 0) continue;
            replacement.CopyTo(table[at..]);
            count++;
        }
        return count;
    }

    static int NextIndex(Span<byte> table, byte[] needle, int previous)
    {
        var rest = table[(previous + 1)..].IndexOf(needle);
        return rest < 0 ? -1 : previous + 1 + rest;
    }
}
