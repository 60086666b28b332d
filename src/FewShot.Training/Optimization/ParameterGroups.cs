using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FewShot.Training.Optimization;

/// <summary>A named set of parameters that share a weight decay.</summary>
public sealed record ParameterGroup(string Name, IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double WeightDecay);

/// <summary>
/// GPT-3's weight decay applies to the weight matrices and the embeddings only: every parameter with two or more
/// dimensions. Biases and LayerNorm gains and biases (one dimension) are not decayed.
/// </summary>
public static class ParameterGroups
{
    public static IReadOnlyList<ParameterGroup> Split(nn.Module model, double weightDecay)
    {
        var all = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
        return
        [
            new ParameterGroup("decay", all.Where(p => p.parameter.dim() >= 2).ToList(), weightDecay),
            new ParameterGroup("no_decay", all.Where(p => p.parameter.dim() < 2).ToList(), 0.0),
        ];
    }
}
