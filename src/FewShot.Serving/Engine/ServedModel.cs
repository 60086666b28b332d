using FewShot.Model;
using FewShot.Model.Generation;
using FewShot.Model.Inference;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;

namespace FewShot.Serving.Engine;

/// <summary>The one model this server serves, under the name clients use in "model", and the decoder that runs it.</summary>
public sealed class ServedModel : IDisposable
{
    readonly LoadedModel loaded;

    /// <param name="weights">"torch", "f32", "q8_0", or empty for the fused decoder in the folder's stored format.</param>
    public ServedModel(LoadedModel loaded, string name, string weights = "", int threads = 0)
    {
        this.loaded = loaded;
        Name = name;
        Decoder = weights == "torch" || loaded.Model.parameters().First().device.type != TorchSharp.DeviceType.CPU
            ? new TorchDecoder(loaded.Model)
            : FusedDecoding.From(loaded.Model, WeightFormats.Parse(weights) ?? loaded.Stored, threads);
    }

    public string Name { get; }
    public Gpt Model => loaded.Model;
    public ITokenizer Tokenizer => loaded.Tokenizer;
    public IDecoder Decoder { get; }
    public int ContextLength => loaded.Model.Config.ContextLength;
    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;

    public void Dispose()
    {
        (Decoder as IDisposable)?.Dispose();
        loaded.Dispose();
    }
}
