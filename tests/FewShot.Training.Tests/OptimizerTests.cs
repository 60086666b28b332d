using FewShot.Model;
using FewShot.Training.Optimization;
using static TorchSharp.torch;

namespace FewShot.Training.Tests;

public class OptimizerTests
{
    static Gpt TinyModel(long seed = 1)
    {
        manual_seed(seed);
        return new Gpt(new GptConfig { VocabSize = 20, ContextLength = 8, Layers = 2, Heads = 2, Embedding = 16 });
    }

    [Fact]
    public void WeightDecayGroupHoldsExactlyTheMatricesAndEmbeddings()
    {
        using var model = TinyModel();
        var groups = ParameterGroups.Split(model, 0.1);
        var decay = groups.Single(g => g.Name == "decay");
        var none = groups.Single(g => g.Name == "no_decay");
        Assert.Equal(0.1, decay.WeightDecay);
        Assert.Equal(0.0, none.WeightDecay);

        var decayed = decay.Parameters.Select(p => p.Name).ToHashSet();
        Assert.Contains("wte.weight", decayed);
        Assert.Contains("wpe.weight", decayed);
        Assert.Contains("h.0.attn.c_attn.weight", decayed);
        Assert.Contains("h.1.mlp.c_proj.weight", decayed);
        Assert.All(none.Parameters, p => Assert.True(p.Name.EndsWith(".bias") || p.Name.Contains("ln_"), p.Name));
        Assert.Contains("h.0.ln_1.weight", none.Parameters.Select(p => p.Name));
        Assert.Contains("ln_f.bias", none.Parameters.Select(p => p.Name));
        Assert.Equal(model.parameters().Count(), decay.Parameters.Count + none.Parameters.Count);
    }

    [Fact]
    public void WithZeroGradientsOnlyTheDecayGroupShrinks()
    {
        using var model = TinyModel();
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using var optimizer = new AdamW(ParameterGroups.Split(model, 0.1));
        foreach (var p in model.parameters()) p.grad = zeros_like(p);
        optimizer.Step(lr: 0.5);
        foreach (var (name, p) in model.named_parameters())
        {
            var expected = p.dim() >= 2 ? before[name] * (1 - 0.5 * 0.1) : before[name];
            Assert.True(p.detach().allclose(expected, rtol: 0, atol: 1e-7), name);
        }
    }

    [Fact]
    public void MatchesTorchSharpsAdamWStepForStep()
    {
        using var ours = TinyModel(7);
        using var reference = TinyModel(7);
        using var optimizer = new AdamW([new ParameterGroup("all", ours.named_parameters().Select(p => (p.name, p.parameter)).ToList(), 0.1)], 0.9, 0.95, 1e-8);
        var torchAdam = optim.AdamW(reference.parameters(), lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1);
        var ids = randint(0, 20, [3, 8], generator: new Generator(5));
        var targets = randint(0, 20, [3, 8], generator: new Generator(6));
        for (var step = 0; step < 5; step++)
        {
            ours.Loss(ids, targets).backward();
            optimizer.Step(3e-3);
            optimizer.ZeroGrad();
            reference.Loss(ids, targets).backward();
            torchAdam.step();
            torchAdam.zero_grad();
        }
        foreach (var ((name, a), (_, b)) in ours.named_parameters().Zip(reference.named_parameters()))
            Assert.True(a.detach().allclose(b.detach(), rtol: 1e-5, atol: 1e-7), name);
    }

    [Fact]
    public void ParametersAndGradientsLiveInTheFlatBuffers()
    {
        using var model = TinyModel(3);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        using var optimizer = new AdamW(ParameterGroups.Split(model, 0.1));
        var flat = optimizer.Flat;
        Assert.Equal(model.parameters().Sum(p => p.numel()), flat.Data.numel());
        // Moving into the buffer kept every value.
        foreach (var (name, p) in model.named_parameters()) Assert.True(p.detach().allclose(before[name], rtol: 0, atol: 0), name);

        var ids = randint(0, 20, [2, 8], generator: new Generator(1));
        model.Loss(ids, ids).backward();
        model.Loss(ids, ids).backward(); // accumulates in place: the gradients stay views of Flat.Grad
        var concatenated = cat(optimizer.Parameters.Select(p => p.grad!.reshape(-1)).ToArray());
        Assert.True(concatenated.allclose(flat.Grad, rtol: 0, atol: 0));
        Assert.True(flat.Grad.abs().sum().item<float>() > 0);

        using (no_grad()) flat.Data.add_(1); // one operation moves every parameter
        foreach (var (name, p) in model.named_parameters()) Assert.True(p.detach().allclose(before[name] + 1), name);

        optimizer.ZeroGrad();
        Assert.All(optimizer.Parameters, p => Assert.Equal(0f, p.grad!.abs().sum().item<float>()));
    }
}
