using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Model.Storage;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
/// byte range, then the raw little-endian data. Reading memory-maps the file and copies each tensor's bytes once,
/// straight from the mapping into the tensor's own memory (nothing passes through managed arrays).
/// </summary>
public static class SafeTensors
{
    const long MaxHeaderBytes = 100 * 1024 * 1024;

    static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2), ["BF16"] = (ScalarType.BFloat16, 2),
        ["F64"] = (ScalarType.Float64, 8), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>One entry of the header.</summary>
    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    /// <summary>Reads the header only; throws <see cref="InvalidDataException"/> naming the file and the fault.</summary>
    public static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.Read(lengthBytes) != 8) throw new InvalidDataException($"{path}: truncated (no safetensors header)");
        var headerLength = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > stream.Length)
            throw new InvalidDataException($"{path}: not a safetensors file (header length {headerLength}, file length {stream.Length})");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);

        JsonObject header;
        try { header = JsonNode.Parse(headerBytes)?.AsObject() ?? throw new InvalidDataException($"{path}: empty header"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: header is not valid JSON ({e.Message})"); }

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>();
        var dataLength = stream.Length - 8 - headerLength;
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node?.AsObject() ?? []) metadata[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            try
            {
                var dtype = node!["dtype"]!.GetValue<string>();
                var shape = node["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                var offsets = node["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
                if (!DTypes.TryGetValue(dtype, out var info)) throw new InvalidDataException($"{path}: tensor '{name}' has unsupported dtype {dtype}");
                var expected = shape.Aggregate(1L, (a, b) => a * b) * info.Size;
                if (offsets.Length != 2 || offsets[1] - offsets[0] != expected)
                    throw new InvalidDataException($"{path}: tensor '{name}' has {offsets.ElementAtOrDefault(1) - offsets.ElementAtOrDefault(0)} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {expected}");
                if (offsets[0] < 0 || offsets[1] > dataLength)
                    throw new InvalidDataException($"{path}: truncated: tensor '{name}' ends at byte {offsets[1]} of a {dataLength}-byte data section");
                entries.Add(new Entry(name, dtype, shape, offsets[0], offsets[1]));
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: tensor '{name}' has a malformed header entry");
            }
        }
        return (entries, metadata, 8 + headerLength);
    }

    /// <summary>Loads every tensor (in its stored dtype) onto the CPU.</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        var (entries, _, dataStart) = ReadHeader(path);
        var result = new Dictionary<string, Tensor>();
        if (entries.Count == 0) return result;
        using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        unsafe
        {
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            try
            {
                basePointer += view.PointerOffset;
                foreach (var e in entries)
                {
                    var tensor = empty(e.Shape, DTypes[e.DType].Type);
                    var source = new ReadOnlySpan<byte>(basePointer + dataStart + e.Begin, checked((int)(e.End - e.Begin)));
                    source.CopyTo(tensor.bytes);
                    result[e.Name] = tensor;
                }
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
        }
        return result;
    }

    /// <summary>Writes tensors atomically (temporary file, then rename), in name order, with optional string metadata.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));
        var ordered = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        long offset = 0;
        foreach (var (name, tensor) in ordered)
        {
            var length = tensor.NumberOfElements * tensor.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = DTypes.First(d => d.Value.Type == tensor.dtype).Key,
                ["shape"] = new JsonArray(tensor.shape.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + length),
            };
            offset += length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        var padded = new byte[(headerBytes.Length + 7) / 8 * 8];
        Array.Fill(padded, (byte)' ');
        headerBytes.CopyTo(padded, 0);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, padded.Length);
            stream.Write(length);
            stream.Write(padded);
            foreach (var (_, tensor) in ordered)
            {
                using var cpu = tensor.detach().cpu().contiguous();
                stream.Write(cpu.bytes);
            }
        });
    }
}
