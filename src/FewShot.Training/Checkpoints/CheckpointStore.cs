using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Model;
using FewShot.Model.Storage;
using static TorchSharp.torch;

namespace FewShot.Training.Checkpoints;

/// <summary>
/// A run's checkpoints folder. Each checkpoint is two files: <c>step-NNNNNNNN.safetensors</c> (weights as
/// <c>model.*</c>, optimizer moments as <c>optim.*</c>, RNG state as <c>rng.*</c>) and <c>step-NNNNNNNN.json</c>
/// (<see cref="CheckpointInfo"/> with the SHA-256 of the tensor file). Both are written atomically, the JSON last:
/// a checkpoint without its JSON, or whose tensor file does not match the checksum, is never used.
/// </summary>
public sealed class CheckpointStore(string folder, int keep)
{
    public string Folder { get; } = folder;

    /// <summary>Writes a checkpoint, then removes all but the newest <c>keep</c> and the best one.</summary>
    public CheckpointInfo Save(IReadOnlyDictionary<string, Tensor> tensors, CheckpointInfo describe)
    {
        Directory.CreateDirectory(Folder);
        var stem = $"step-{describe.Step:D8}";
        var tensorPath = Path.Combine(Folder, stem + ".safetensors");
        SafeTensors.Save(tensorPath, tensors, new Dictionary<string, string> { ["producer"] = "fewshot-train" });
        var info = describe with { TensorFile = stem + ".safetensors", Sha256 = Hash(tensorPath), Bytes = new FileInfo(tensorPath).Length };
        AtomicFile.WriteAllText(Path.Combine(Folder, stem + ".json"), info.ToJson().ToJsonString(GptConfig.Indented));
        Prune();
        return info;
    }

    /// <summary>
    /// The newest checkpoint whose files are complete and match their checksum, or null. Each newer one that is
    /// damaged is reported through <paramref name="warn"/> and skipped.
    /// </summary>
    public (CheckpointInfo Info, Dictionary<string, Tensor> Tensors)? LoadLatestGood(Action<string> warn)
    {
        foreach (var jsonPath in Descriptions().OrderByDescending(p => p))
        {
            try
            {
                var info = Read(jsonPath);
                var tensorPath = Path.Combine(Folder, info.TensorFile);
                if (!File.Exists(tensorPath)) throw new InvalidDataException($"{tensorPath}: missing");
                var length = new FileInfo(tensorPath).Length;
                if (length != info.Bytes) throw new InvalidDataException($"{tensorPath}: truncated ({length} of {info.Bytes} bytes)");
                if (Hash(tensorPath) != info.Sha256) throw new InvalidDataException($"{tensorPath}: checksum mismatch (corrupt)");
                return (info, SafeTensors.Load(tensorPath));
            }
            catch (Exception e) when (e is InvalidDataException or IOException or JsonException)
            {
                warn($"skipping damaged checkpoint: {e.Message}; trying the previous one");
            }
        }
        return null;
    }

    /// <summary>Every readable checkpoint description, oldest first (damaged ones are left out).</summary>
    public IReadOnlyList<CheckpointInfo> List()
    {
        var result = new List<CheckpointInfo>();
        foreach (var path in Descriptions().Order())
        {
            try { result.Add(Read(path)); }
            catch (Exception e) when (e is InvalidDataException or IOException or JsonException) { }
        }
        return result;
    }

    IEnumerable<string> Descriptions() =>
        Directory.Exists(Folder) ? Directory.EnumerateFiles(Folder, "step-*.json") : [];

    static CheckpointInfo Read(string jsonPath) =>
        CheckpointInfo.FromJson(JsonNode.Parse(File.ReadAllText(jsonPath)) ?? throw new InvalidDataException($"{jsonPath}: empty"), jsonPath);

    void Prune()
    {
        var all = List();
        var best = all.Where(c => c.ValidationLoss is not null).MinBy(c => c.ValidationLoss);
        var keepSteps = all.OrderByDescending(c => c.Step).Take(keep).Select(c => c.Step).ToHashSet();
        if (best is not null) keepSteps.Add(best.Step);
        foreach (var old in all.Where(c => !keepSteps.Contains(c.Step)))
        {
            // The description goes first: a tensor file without one is ignored, never mistaken for a checkpoint.
            File.Delete(Path.Combine(Folder, $"step-{old.Step:D8}.json"));
            File.Delete(Path.Combine(Folder, old.TensorFile));
        }
    }

    static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
