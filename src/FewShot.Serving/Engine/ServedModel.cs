using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;

namespace FewShot.Serving.Engine;

/// <summary>The one model this server serves, under the name clients use in "model".</summary>
public sealed class ServedModel(LoadedModel loaded, string name) : IDisposable
{
    public string Name { get; } = name;
    public Gpt Model => loaded.Model;
    public ITokenizer Tokenizer => loaded.Tokenizer;
    public int ContextLength => loaded.Model.Config.ContextLength;
    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;

    public void Dispose() => loaded.Dispose();
}
