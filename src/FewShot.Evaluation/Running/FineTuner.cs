using FewShot.Model;
using FewShot.Model.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Evaluation.Running;

/// <summary>
/// The comparison the paper draws in Section 1: instead of placing K examples in the context, update a copy of the
/// model's weights on them with a few steps of AdamW (full batch, loss on every token of each demonstration).
/// </summary>
public static class FineTuner
{
    public sealed record Settings(int Steps = 8, double LearningRate = 1e-4, double WeightDecay = 0.0);

    /// <summary>A fine-tuned copy; the original model is left unchanged. Returns the copy and its final training loss.</summary>
    public static (Gpt Model, double Loss) Tune(Gpt model, ITokenizer tokenizer, IReadOnlyList<string> demonstrations, Settings settings)
    {
        if (demonstrations.Count == 0) throw new ArgumentException("fine-tuning needs at least one demonstration");
        var copy = new Gpt(model.Config);
        var device = model.parameters().First().device;
        if (device.type != DeviceType.CPU) copy.to(device);
        using (no_grad())
        {
            var source = model.state_dict();
            foreach (var (name, target) in copy.state_dict()) target.copy_(source[name]);
        }

        var sequences = demonstrations.Select(text =>
        {
            int[] ids = tokenizer.EndOfText >= 0 ? [tokenizer.EndOfText, .. tokenizer.Encode(text)] : tokenizer.Encode(text);
            return ids.Length > model.Config.ContextLength + 1 ? ids[..(model.Config.ContextLength + 1)] : ids;
        }).Where(ids => ids.Length >= 2).ToArray();
        if (sequences.Length == 0) throw new ArgumentException("the demonstrations are too short to fine-tune on (fewer than 2 tokens)");

        copy.train();
        using var optimizer = optim.AdamW(copy.parameters(), settings.LearningRate, weight_decay: settings.WeightDecay);
        double last = double.NaN;
        for (var step = 0; step < settings.Steps; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            double total = 0;
            foreach (var ids in sequences)
            {
                var x = tensor(ids[..^1].Select(i => (long)i).ToArray(), device: device).view(1, -1);
                var y = tensor(ids[1..].Select(i => (long)i).ToArray(), device: device).view(1, -1);
                var loss = copy.Loss(x, y) / sequences.Length;
                loss.backward();
                total += loss.item<float>();
            }
            optimizer.step();
            last = total;
        }
        copy.eval();
        return (copy, last);
    }
}
