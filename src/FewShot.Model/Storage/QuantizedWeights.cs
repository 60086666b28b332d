using FewShot.Model.Inference;
using static TorchSharp.torch;

namespace FewShot.Model.Storage;

/// <summary>
/// A model folder's weights in Q8_0 (<c>fewshot quantize</c>): model.safetensors holds each weight matrix whose rows are
/// a multiple of 32 as I8 values [out, in] plus F16 scales [out, in / 32] under NAME.q8_0_scales; everything else
/// (position table, LayerNorms, biases) stays F32; the file's metadata says <c>"quantization": "q8_0"</c>. Loading
/// dequantises into the model, so the TorchSharp path computes the quantised model's function, and the fused decoder
/// quantises those values again without loss (each block's largest value maps to 127 and its scale back to itself).
/// </summary>
public static class QuantizedWeights
{
    public const string MetadataKey = "quantization";
    public const string ScaleSuffix = ".q8_0_scales";

    /// <summary>The format named by a weights file's metadata: f32 when absent; throws for a format this loader does not know.</summary>
    public static WeightFormat FormatOf(IReadOnlyDictionary<string, string> metadata, string source)
    {
        if (!metadata.TryGetValue(MetadataKey, out var name)) return WeightFormat.F32;
        return WeightFormats.Parse(name)
            ?? throw new InvalidDataException($"{source}: weights quantised as '{name}', a format this loader does not know (it reads f32 and q8_0)");
    }

    static bool Quantizable(string name, Tensor t) =>
        name.EndsWith(".weight", StringComparison.Ordinal) && t.dim() == 2 && name != "wpe.weight" && t.shape[1] % Kernels.Q8Block == 0;

    /// <summary>A state dict in Q8_0 storage form (new tensors; the caller disposes them).</summary>
    public static Dictionary<string, Tensor> Quantize(IReadOnlyDictionary<string, Tensor> state)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, value) in state)
        {
            using var f32 = value.detach().cpu().to(ScalarType.Float32).contiguous();
            if (!Quantizable(name, f32)) { result[name] = f32.clone(); continue; }
            var (rows, columns) = ((int)f32.shape[0], (int)f32.shape[1]);
            var values = f32.data<float>().ToArray();
            var q = new sbyte[values.Length];
            var scales = new float[values.Length / Kernels.Q8Block];
            for (var b = 0; b < scales.Length; b++)
                scales[b] = Q8Matrix.QuantizeBlock(values.AsSpan(b * Kernels.Q8Block, Kernels.Q8Block), q.AsSpan(b * Kernels.Q8Block, Kernels.Q8Block));
            result[name] = tensor(q, [rows, columns]);
            using var scaleTensor = tensor(scales, [rows, columns / Kernels.Q8Block]);
            result[name + ScaleSuffix] = scaleTensor.to(ScalarType.Float16);
        }
        return result;
    }

    /// <summary>Replaces each quantised matrix (and its scales) by its F32 values, in place.</summary>
    public static void Dequantize(Dictionary<string, Tensor> tensors, string source)
    {
        foreach (var name in tensors.Keys.Where(k => k.EndsWith(ScaleSuffix, StringComparison.Ordinal)).ToList())
        {
            var matrix = name[..^ScaleSuffix.Length];
            if (!tensors.TryGetValue(matrix, out var q) || q.dtype != ScalarType.Int8 || q.dim() != 2)
                throw new InvalidDataException($"{source}: scales '{name}' without an I8 matrix '{matrix}'");
            var scales = tensors[name];
            if (scales.dim() != 2 || scales.shape[0] != q.shape[0] || scales.shape[1] * Kernels.Q8Block != q.shape[1])
                throw new InvalidDataException($"{source}: '{name}' has shape [{string.Join(", ", scales.shape)}], not [{q.shape[0]}, {q.shape[1] / Kernels.Q8Block}]");
            using var blocks = q.to(ScalarType.Float32).view(q.shape[0], -1, Kernels.Q8Block);
            using var perBlock = scales.to(ScalarType.Float32).unsqueeze(-1);
            var values = (blocks * perBlock).view(q.shape[0], q.shape[1]);
            q.Dispose();
            scales.Dispose();
            tensors.Remove(name);
            tensors[matrix] = values;
        }
    }
}
