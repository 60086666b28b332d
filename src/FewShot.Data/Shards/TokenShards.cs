using System.IO.MemoryMappedFiles;
using System.Security.Cryptography;

namespace FewShot.Data.Shards;

/// <summary>One memory-mapped shard: token ids by position, never copied into managed memory as a whole.</summary>
public sealed unsafe class MappedShard : IDisposable
{
    readonly MemoryMappedFile? file;
    readonly MemoryMappedViewAccessor? view;
    readonly byte* pointer;
    readonly int bytesPerToken;

    internal MappedShard(string path, ShardInfo info, int bytesPerToken)
    {
        Info = info;
        this.bytesPerToken = bytesPerToken;
        var length = new FileInfo(path).Length;
        if (length != info.Tokens * bytesPerToken)
            throw new FormatException($"{path}: {length:N0} bytes, but the manifest says {info.Tokens:N0} tokens of {bytesPerToken} bytes (truncated or replaced shard)");
        if (length == 0) return;
        file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        pointer += view.PointerOffset;
    }

    public ShardInfo Info { get; }
    public long Length => Info.Tokens;

    public int this[long index] => bytesPerToken == 2 ? ((ushort*)pointer)[index] : (int)((uint*)pointer)[index];

    /// <summary>Copies tokens [offset, offset + destination.Length) into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<int> destination)
    {
        if (offset < 0 || offset + destination.Length > Length) throw new ArgumentOutOfRangeException(nameof(offset));
        if (bytesPerToken == 2) { var p = (ushort*)pointer + offset; for (var i = 0; i < destination.Length; i++) destination[i] = p[i]; }
        else { var p = (uint*)pointer + offset; for (var i = 0; i < destination.Length; i++) destination[i] = (int)p[i]; }
    }

    public void Dispose()
    {
        if (view is null) return;
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        file?.Dispose();
    }
}

/// <summary>
/// Reads a prepared data folder: its manifest and memory-mapped shards (uint16 or uint32 little-endian tokens).
/// A folder without manifest.json is incomplete and refused.
/// </summary>
public sealed class TokenShards : IDisposable
{
    TokenShards(string folder, ShardManifest manifest, IReadOnlyList<MappedShard> shards) { Folder = folder; Manifest = manifest; Shards = shards; }

    public string Folder { get; }
    public ShardManifest Manifest { get; }
    public IReadOnlyList<MappedShard> Shards { get; }

    public static TokenShards Open(string folder)
    {
        var manifest = ShardManifest.Load(folder);
        var shards = new List<MappedShard>();
        try
        {
            foreach (var info in manifest.Shards)
            {
                var path = Path.Combine(folder, info.File);
                if (!File.Exists(path)) throw new FileNotFoundException($"{path}: shard named in {ShardManifest.FileName} is missing");
                shards.Add(new MappedShard(path, info, manifest.BytesPerToken));
            }
        }
        catch { foreach (var s in shards) s.Dispose(); throw; }
        return new TokenShards(folder, manifest, shards);
    }

    public IEnumerable<MappedShard> Of(string source, string split) => Shards.Where(s => s.Info.Source == source && s.Info.Split == split);

    /// <summary>Recomputes every shard's SHA-256; returns the files that do not match the manifest.</summary>
    public static IReadOnlyList<string> Verify(string folder)
    {
        var manifest = ShardManifest.Load(folder);
        var bad = new List<string>();
        foreach (var info in manifest.Shards)
        {
            var path = Path.Combine(folder, info.File);
            if (!File.Exists(path)) { bad.Add(info.File); continue; }
            using var stream = File.OpenRead(path);
            if (Convert.ToHexStringLower(SHA256.HashData(stream)) != info.Sha256) bad.Add(info.File);
        }
        return bad;
    }

    public void Dispose() { foreach (var s in Shards) s.Dispose(); }
}
