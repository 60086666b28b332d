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
            // Both take our model's gradients: some are rounding noise (a key bias's true gradient is zero) that
            // AdamW scales up to a full step, so each model's own forward pass would compare the noise, not AdamW.
            ours.Loss(ids, targets).backward();
            reference.Loss(ids, targets).backward();
            using (no_grad())
                foreach (var (mine, theirs) in ours.parameters().Zip(reference.parameters())) theirs.grad!.copy_(mine.grad!);
            optimizer.Step(3e-3);
            optimizer.ZeroGrad();
            torchAdam.step();
            torchAdam.zero_grad();
        }
        foreach (var ((name, a), (_, b)) in ours.named_parameters().Zip(reference.named_parameters()))
            Assert.True(a.detach().allclose(b.detach(), rtol: 1e-5, atol: 1e-7), $"{name}: {(a - b).abs().max().item<float>()} of {b.abs().max().item<float>()}");
    }

    [Fact]
    public void FusedUpdateMatchesTheOpByOpUpdate()
    {
        // 1,007 elements: whole vectors and a remainder; moments and gradients of both signs and several scales.
        var generator = new Generator(21);
        var (p, g) = (randn(1007, generator: generator), randn(1007, generator: generator) * 3);
        var (m, v) = (randn(1007, generator: generator) * 0.1, rand(1007, generator: generator) * 0.01);
        var (lr, decay, beta1, beta2, eps, clip, step) = (3e-3, 0.1, 0.9, 0.95, 1e-8, 0.37, 4);
        var (correction1, correction2Sqrt) = (1 - Math.Pow(beta1, step), Math.Sqrt(1 - Math.Pow(beta2, step)));

        // The op-by-op update of AdamW.Update, on copies.
        var (ep, em, ev) = (p.clone(), m.clone(), v.clone());
        var eg = g * clip;
        ep.mul_(1 - lr * decay);
        em.mul_(beta1).add_(eg, alpha: 1 - beta1);
        ev.mul_(beta2).addcmul_(eg, eg, value: 1 - beta2);
        ep.addcdiv_(em, ev.sqrt().div_(correction2Sqrt).add_(eps), value: -lr / correction1);

        var gradientBefore = g.clone();
        FusedUpdate.Apply(p, g, m, v, 0, 1007, new FusedUpdate.Factors(1 - lr * decay, clip, beta1, beta2, correction2Sqrt, eps, -lr / correction1));
        Assert.True(p.allclose(ep, rtol: 1e-6, atol: 1e-7), $"weights: {(p - ep).abs().max().item<float>()}");
        Assert.True(m.allclose(em, rtol: 1e-6, atol: 1e-8), "first moment");
        Assert.True(v.allclose(ev, rtol: 1e-6, atol: 1e-9), "second moment");
        Assert.True(g.allclose(gradientBefore, rtol: 0, atol: 0), "the gradients are read, not scaled in place");
    }

    [Fact]
    public void AStepSplitIntoRangesEqualsOneStep()
    {
        // The two-replica trainer updates halves of the flat buffers on two threads; the split crosses the groups.
        using var whole = TinyModel(9);
        using var split = TinyModel(9);
        using var one = new AdamW(ParameterGroups.Split(whole, 0.1));
        using var two = new AdamW(ParameterGroups.Split(split, 0.1));
        var ids = randint(0, 20, [3, 8], generator: new Generator(5));
        var total = one.Flat.Data.numel();
        for (var step = 0; step < 3; step++)
        {
            whole.Loss(ids, ids).backward();
            split.Loss(ids, ids).backward();
            one.Step(3e-3);
            two.BeginStep();
            two.Update(3e-3, total / 3, total);
            two.Update(3e-3, 0, total / 3);
            one.ZeroGrad();
            two.ZeroGrad();
        }
        Assert.True(one.Flat.Data.allclose(two.Flat.Data, rtol: 0, atol: 0));
        Assert.Equal(3, two.Steps);
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
