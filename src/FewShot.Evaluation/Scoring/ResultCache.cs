using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FewShot.Evaluation.Scoring;

/// <summary>
/// Scores already computed, keyed by SHA-256 of (model hash, task config hash, request kind, prompt, continuation), so
/// a rerun with the same model and task skips the model. Saved as one JSON file, atomically.
/// </summary>
public sealed class ResultCache
{
    readonly ConcurrentDictionary<string, string> entries = new(StringComparer.Ordinal);

    public int Count => entries.Count;
    public int Hits { get; private set; }

    public static string Key(params string[] parts)
    {
        var joined = string.Join('\u0000', parts);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(joined)));
    }

    public bool TryGet<T>(string key, out T value)
    {
        if (entries.TryGetValue(key, out var json)) { value = JsonSerializer.Deserialize<T>(json)!; Hits++; return true; }
        value = default!;
        return false;
    }

    public void Set<T>(string key, T value) => entries[key] = JsonSerializer.Serialize(value);

    public static ResultCache Load(string path)
    {
        var cache = new ResultCache();
        if (!File.Exists(path)) return cache;
        try
        {
            foreach (var (k, v) in JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) ?? []) cache.entries[k] = v;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a result cache ({e.Message}); delete it to start afresh"); }
        return cache;
    }

    public void Save(string path) => FewShot.Model.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(entries.ToDictionary()));
}
