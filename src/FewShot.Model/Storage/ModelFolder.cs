using FewShot.Model.Inference;
using FewShot.Model.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Model.Storage;

/// <summary>A loaded model and the tokenizer it was trained with.</summary>
public sealed record LoadedModel(Gpt Model, ITokenizer Tokenizer, string Folder) : IDisposable
{
    /// <summary>How the folder stores the weights (Q8_0 after <c>fewshot quantize</c>; the model holds them dequantised).</summary>
    public WeightFormat Stored { get; init; } = WeightFormat.F32;

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// A model folder: <c>config.json</c> (<see cref="GptConfig"/>), <c>model.safetensors</c> (our state dict: nn.Linear
/// weights [out, in], no separate lm_head since the head is tied) and <c>tokenizer.json</c>. Every command that uses a
/// model takes such a folder.
/// </summary>
public static class ModelFolder
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";

    public static void Save(Gpt model, ITokenizer tokenizer, string folder)
    {
        Directory.CreateDirectory(folder);
        var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        SafeTensors.Save(Path.Combine(folder, WeightsFile), state, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "fewshot" });
        TokenizerStore.Save(tokenizer, folder);
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFile), model.Config.ToJsonString()); // last: a folder with a config is complete
    }

    /// <summary>Loads a model folder; throws <see cref="InvalidDataException"/> or <see cref="FileNotFoundException"/> naming what is wrong.</summary>
    public static LoadedModel Load(string folder, Device? device = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: model folder not found");
        var configPath = Path.Combine(folder, ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: missing (not a model folder)");
        var config = GptConfig.Load(configPath);
        var tokenizer = TokenizerStore.Load(folder);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"{folder}: tokenizer has {tokenizer.VocabSize} tokens but the model only {config.VocabSize}");

        var weightsPath = Path.Combine(folder, WeightsFile);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"{weightsPath}: missing");
        var stored = QuantizedWeights.FormatOf(SafeTensors.ReadHeader(weightsPath).Metadata, weightsPath);
        var model = new Gpt(config);
        try
        {
            var tensors = SafeTensors.Load(weightsPath);
            if (stored == WeightFormat.Q8_0) QuantizedWeights.Dequantize(tensors, weightsPath);
            LoadWeights(model, tensors, weightsPath);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return new LoadedModel(model, tokenizer, folder) { Stored = stored };
    }

    /// <summary>Rewrites a folder's weights in Q8_0 (write to a temporary file, then rename: never half a file).</summary>
    public static void Quantize(string folder, WeightFormat format)
    {
        using var loaded = Load(folder);
        var path = Path.Combine(folder, WeightsFile);
        var state = loaded.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        var stored = format == WeightFormat.Q8_0 ? QuantizedWeights.Quantize(state) : state;
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "fewshot" };
        if (format != WeightFormat.F32) metadata[QuantizedWeights.MetadataKey] = WeightFormats.Name(format);
        var temporary = path + ".tmp";
        try
        {
            SafeTensors.Save(temporary, stored, metadata);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
            if (!ReferenceEquals(stored, state)) foreach (var t in stored.Values) t.Dispose();
        }
    }

    /// <summary>Copies tensors into the model's parameters, checking that names, shapes and dtypes match exactly.</summary>
    public static void LoadWeights(Gpt model, Dictionary<string, Tensor> tensors, string source)
    {
        try
        {
            var expected = model.state_dict();
            var missing = expected.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            if (missing.Count > 0) throw new InvalidDataException($"{source}: missing tensor '{missing[0]}'{(missing.Count > 1 ? $" and {missing.Count - 1} more" : "")}");
            var unexpected = tensors.Keys.Where(k => !expected.ContainsKey(k)).ToList();
            if (unexpected.Count > 0) throw new InvalidDataException($"{source}: unexpected tensor '{unexpected[0]}' (is the config right?)");
            using var _ = no_grad();
            foreach (var (name, target) in expected)
            {
                var value = tensors[name];
                if (!value.shape.SequenceEqual(target.shape))
                    throw new InvalidDataException($"{source}: tensor '{name}' has shape [{string.Join(", ", value.shape)}], the config needs [{string.Join(", ", target.shape)}]");
                if (value.dtype != target.dtype && !is_floating_point(value.dtype))
                    throw new InvalidDataException($"{source}: tensor '{name}' has dtype {value.dtype}, expected a floating-point type");
                target.copy_(value);
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
