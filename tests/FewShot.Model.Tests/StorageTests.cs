using System.Buffers.Binary;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Model.Tests;

public sealed class StorageTests
{
    [Fact]
    public void ModelFolderRoundTripsBitwise()
    {
        using var folder = new TempFolder();
        using var model = TinyModels.Create(vocab: 257, kinds: [AttentionKind.Dense, AttentionKind.Local]);
        ModelFolder.Save(model, new ByteTokenizer(), folder.Path);
        using var loaded = ModelFolder.Load(folder.Path);
        Assert.Equal(model.Config.AttentionTypes, loaded.Model.Config.AttentionTypes);
        var a = model.state_dict();
        foreach (var (name, value) in loaded.Model.state_dict()) Assert.True(value.equal(a[name]).all().item<bool>(), name);
        Assert.Equal("bytes", loaded.Tokenizer.Name);
    }

    [Fact]
    public void TruncatedSafetensorsIsReportedWithTheTensorName()
    {
        using var folder = new TempFolder();
        using var model = TinyModels.Create(vocab: 257);
        ModelFolder.Save(model, new ByteTokenizer(), folder.Path);
        var path = Path.Combine(folder.Path, ModelFolder.WeightsFile);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var e = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(folder.Path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void WrongShapeIsReportedWithTheTensorName()
    {
        using var folder = new TempFolder();
        using var model = TinyModels.Create(vocab: 257);
        ModelFolder.Save(model, new ByteTokenizer(), folder.Path);
        // Claim a different width in the config: every weight now has the wrong shape.
        var config = Path.Combine(folder.Path, ModelFolder.ConfigFile);
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"n_embd\": 32", "\"n_embd\": 64"));
        var e = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(folder.Path));
        Assert.Contains("shape", e.Message);
    }

    [Fact]
    public void GarbageHeaderIsNotASafetensorsFile()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "bad.safetensors");
        var bytes = new byte[64];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, 1L << 40);
        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
    }

    [Fact]
    public void SafetensorsKeepsDtypesAndValues()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "t.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["a"] = arange(12, dtype: ScalarType.Float32).view(3, 4),
            ["b"] = tensor(new long[] { 1, -2, 3 }),
            ["c"] = ones(2, dtype: ScalarType.BFloat16),
        };
        SafeTensors.Save(path, tensors);
        var loaded = SafeTensors.Load(path);
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(t.dtype, loaded[name].dtype);
            Assert.True(t.equal(loaded[name]).all().item<bool>(), name);
        }
    }

    [Fact]
    public void InitialisationFollowsGpt2()
    {
        using var model = new Gpt(Presets.Get("mini").Config);
        var state = model.state_dict();
        Assert.InRange(state["wte.weight"].std().item<float>(), 0.019, 0.021);
        Assert.InRange(state["h.0.mlp.c_proj.weight"].std().item<float>(), 0.02 / Math.Sqrt(12) * 0.95, 0.02 / Math.Sqrt(12) * 1.05);
        Assert.Equal(0, state["h.0.attn.c_attn.bias"].abs().sum().item<float>());
        Assert.DoesNotContain("lm_head.weight", state.Keys); // the head is tied to wte
    }
}
