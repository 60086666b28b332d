using System.Globalization;
using System.Text.Json.Nodes;
using FewShot.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Training.Loop;

/// <summary>
/// The fp32 FLOP/s that MFU is relative to: fixed per machine, so that MFU does not depend on how busy the machine was
/// when a run started (a probe taken under load read low and MFU went past 100%). On the CPU it is the best all-core
/// matmul rate `fewshot bench train` has measured on this machine (stored once, raised only by a faster measurement),
/// else <see cref="DefaultCpuFlopsPerCore"/> per core. On a GPU it is that device's matmul rate, measured at the start.
/// </summary>
public static class MachinePeak
{
    /// <summary>
    /// The 2-core AVX-512 Xeon at 2.5 GHz this project is developed on: 2048^3 fp32 matmul through libtorch 2.10 with 2
    /// threads, quiet machine: 179-182 GFLOP/s (docs/performance.md), so 90 GFLOP/s per core.
    /// </summary>
    public const double DefaultCpuFlopsPerCore = 90e9;

    /// <summary>LocalApplicationData/fewshot/machine-peak.json: {"cpu_flops": 1.65e11, "cores": 2, "measured": "..."}.</summary>
    public static string StorePath => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "fewshot", "machine-peak.json");

    public static double For(Device device) =>
        device.type == DeviceType.CUDA ? ModelFlops.MatmulRate(2048, 3, device) : StoredCpuFlops() ?? DefaultCpuFlopsPerCore * Environment.ProcessorCount;

    /// <summary>The stored all-core CPU rate, or null when none was measured here (or the file is unreadable).</summary>
    public static double? StoredCpuFlops()
    {
        try
        {
            if (!File.Exists(StorePath)) return null;
            var node = JsonNode.Parse(File.ReadAllText(StorePath));
            return (int?)node?["cores"] == Environment.ProcessorCount && (double?)node?["cpu_flops"] is { } flops && flops > 0 ? flops : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Keeps <paramref name="allCoreFlops"/> when it beats the stored rate (a busy machine only measures lower); true when stored.</summary>
    public static bool Record(double allCoreFlops)
    {
        if (!(allCoreFlops > 0) || StoredCpuFlops() is { } stored && stored >= allCoreFlops) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(StorePath)!);
        var json = new JsonObject
        {
            ["cpu_flops"] = allCoreFlops,
            ["cores"] = Environment.ProcessorCount,
            ["measured"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        AtomicFile.WriteAllText(StorePath, json.ToJsonString());
        return true;
    }
}
