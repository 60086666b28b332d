using System.CommandLine;
using TorchSharp;

namespace FewShot.Cli.Infrastructure;

/// <summary>Options shared by many commands, defined once.</summary>
public static class CommonOptions
{
    public static readonly Option<bool> Json = new("--json") { Description = "Print one JSON object on stdout (progress goes to stderr)", Recursive = false };
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces for errors" };

    public static Option<string> Device() => new("--device")
    {
        Description = "Where to run the model: cpu or cuda",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<int> Threads() => new("--threads")
    {
        Description = "libtorch intra-op threads (default: all cores)",
        DefaultValueFactory = _ => 0,
    };

    public static Option<string> Model() => new("--model") { Description = "Model folder (config.json, model.safetensors, tokenizer.json)", Required = true };

    /// <summary>Parses --device and applies --threads; throws ArgumentException for an unusable device.</summary>
    public static torch.Device ResolveDevice(string name, int threads)
    {
        if (threads > 0) torch.set_num_threads(threads);
        return name.ToLowerInvariant() switch
        {
            "cpu" => torch.CPU,
            "cuda" when torch.cuda.is_available() => torch.CUDA,
            "cuda" => throw new ArgumentException("--device cuda: no CUDA device available (build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU)"),
            _ => throw new ArgumentException($"--device: unknown device '{name}' (expected cpu or cuda)"),
        };
    }
}
