using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FewShot.Data.Shards;

/// <summary>
/// Appends documents' tokens (each followed by end-of-text) to numbered shard files of one source and split.
/// Each shard is written to a hidden temporary file and renamed when full or finished, so no shard looks complete
/// before it is; its SHA-256 is computed while writing.
/// </summary>
public sealed class ShardWriter : IDisposable
{
    readonly string folder, source, split;
    readonly int bytesPerToken, endOfText;
    readonly long maxTokens;
    readonly List<ShardInfo> written = [];
    FileStream? stream;
    IncrementalHash? sha;
    string? temporary;
    long tokens, documents, textBytes;
    readonly byte[] buffer = new byte[1 << 16];

    public ShardWriter(string folder, string source, string split, int bytesPerToken, int endOfText, long maxTokensPerShard)
    {
        (this.folder, this.source, this.split, this.bytesPerToken, this.endOfText, maxTokens) = (folder, source, split, bytesPerToken, endOfText, maxTokensPerShard);
    }

    public IReadOnlyList<ShardInfo> Shards => written;

    public void Append(ReadOnlySpan<int> documentTokens, long documentTextBytes)
    {
        if (stream is null) Open();
        var n = 0;
        foreach (var token in documentTokens) Put(token, ref n);
        if (endOfText >= 0) Put(endOfText, ref n);
        Flush(n);
        tokens += documentTokens.Length + (endOfText >= 0 ? 1 : 0);
        documents++;
        textBytes += documentTextBytes;
        if (tokens >= maxTokens) Close();
    }

    void Put(int token, ref int n)
    {
        if (n + bytesPerToken > buffer.Length) { Flush(n); n = 0; }
        if (bytesPerToken == 2) BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(n), checked((ushort)token));
        else BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(n), (uint)token);
        n += bytesPerToken;
    }

    void Flush(int n)
    {
        if (n == 0) return;
        stream!.Write(buffer, 0, n);
        sha!.AppendData(buffer, 0, n);
    }

    void Open()
    {
        temporary = Path.Combine(folder, $".{split}-{source}-{written.Count:D4}.bin.tmp");
        stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        tokens = documents = textBytes = 0;
    }

    /// <summary>Finishes the current shard (flush, rename into place). Call once at the end.</summary>
    public void Close()
    {
        if (stream is null) return;
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        var name = $"{split}-{source}-{written.Count:D4}.bin";
        File.Move(temporary!, Path.Combine(folder, name), overwrite: true);
        written.Add(new ShardInfo
        {
            File = name, Source = source, Split = split, Tokens = tokens, Documents = documents, TextBytes = textBytes,
            Sha256 = Convert.ToHexStringLower(sha!.GetHashAndReset()),
        });
        sha.Dispose();
        stream = null;
        sha = null;
    }

    /// <summary>Abandons the current shard (used when the run fails): its temporary file is removed.</summary>
    public void Dispose()
    {
        if (stream is null) return;
        stream.Dispose();
        sha?.Dispose();
        try { File.Delete(temporary!); } catch (IOException) { }
        stream = null;
    }
}
