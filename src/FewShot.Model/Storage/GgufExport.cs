using System.Text;
using FewShot.Model.Inference;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Model.Storage;

/// <summary>Tensor types a GGUF export can write.</summary>
public enum GgufType
{
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
}

/// <summary>
/// Writes a model as GGUF (version 3) in llama.cpp's "gpt2" architecture, so that llama.cpp and the tools built on it
/// (Ollama, LM Studio) run it. Layout: the magic and counts, key-value metadata, one info record per tensor (name,
/// dims innermost first, type, offset), then the tensor data, each aligned to 32 bytes. nn.Linear's [out, in] rows are
/// GGUF's dims [in, out] unchanged. Matrices go out in the chosen type; vectors (LayerNorms, biases) and the position
/// table stay F32, as llama.cpp's own converter writes them. Q8_0 blocks are a 16-bit scale then 32 signed bytes.
/// The vocabulary goes out as each id's decoded text with no merges: llama.cpp then runs the model on token ids
/// exactly, but its own text tokenizer does not reproduce ours.
/// </summary>
public static class GgufExport
{
    const uint Magic = 0x46554747; // "GGUF"
    const int Alignment = 32;

    public static GgufType? ParseType(string? name) => name?.ToLowerInvariant() switch
    {
        "f32" => GgufType.F32,
        "f16" => GgufType.F16,
        "q8_0" => GgufType.Q8_0,
        _ => null,
    };

    /// <summary>Null when llama.cpp's gpt2 architecture can run this config, else why not (one line).</summary>
    public static string? Unsupported(GptConfig config)
    {
        for (var i = 0; i < config.Layers; i++)
            if (config.KindOfLayer(i) != AttentionKind.Dense)
                return $"layer {i} uses {AttentionLayout.Name(config.KindOfLayer(i))} attention, and llama.cpp's gpt2 architecture runs only dense (full causal) layers";
        return null;
    }

    /// <summary>Writes the file through a temporary name and renames it at the end, so a failure leaves no partial file.</summary>
    public static void Write(Gpt model, ITokenizer tokenizer, string path, GgufType type, string name = "fewshot")
    {
        var config = model.Config;
        if (Unsupported(config) is { } why) throw new ArgumentException($"cannot export to GGUF: {why}");
        var temporary = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                WriteTo(stream, model, tokenizer, type, name);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    sealed record Entry(string Name, long[] Dims, GgufType Type, float[] Values)
    {
        public long Bytes => Type switch
        {
            GgufType.F32 => Values.LongLength * 4,
            GgufType.F16 => Values.LongLength * 2,
            _ => Values.LongLength / Kernels.Q8Block * (2 + Kernels.Q8Block),
        };
    }

    static void WriteTo(Stream stream, Gpt model, ITokenizer tokenizer, GgufType type, string name)
    {
        var config = model.Config;
        var state = model.state_dict();
        float[] Values(string key) => DecodeWeights.Floats(state[key]);
        var entries = new List<Entry>();
        void Matrix(string gguf, string key, bool quantize = true)
        {
            var shape = state[key].shape;
            var t = quantize && (type != GgufType.Q8_0 || shape[1] % Kernels.Q8Block == 0) ? type : GgufType.F32;
            entries.Add(new Entry(gguf, [shape[1], shape[0]], t, Values(key)));
        }
        void Vector(string gguf, string key, int length) =>
            entries.Add(new Entry(gguf, [length], GgufType.F32, state.ContainsKey(key) ? Values(key) : new float[length])); // no bias: zeros

        var C = config.Embedding;
        Matrix("token_embd.weight", "wte.weight");
        Matrix("position_embd.weight", "wpe.weight", quantize: false);
        Vector("output_norm.weight", "ln_f.weight", C);
        Vector("output_norm.bias", "ln_f.bias", C);
        Matrix("output.weight", "wte.weight"); // the tied head, written out as llama.cpp's gpt2 expects
        for (var i = 0; i < config.Layers; i++)
        {
            var (b, h) = ($"blk.{i}.", $"h.{i}.");
            Vector(b + "attn_norm.weight", h + "ln_1.weight", C);
            Vector(b + "attn_norm.bias", h + "ln_1.bias", C);
            Matrix(b + "attn_qkv.weight", h + "attn.c_attn.weight");
            Vector(b + "attn_qkv.bias", h + "attn.c_attn.bias", 3 * C);
            Matrix(b + "attn_output.weight", h + "attn.c_proj.weight");
            Vector(b + "attn_output.bias", h + "attn.c_proj.bias", C);
            Vector(b + "ffn_norm.weight", h + "ln_2.weight", C);
            Vector(b + "ffn_norm.bias", h + "ln_2.bias", C);
            Matrix(b + "ffn_up.weight", h + "mlp.c_fc.weight");
            Vector(b + "ffn_up.bias", h + "mlp.c_fc.bias", 4 * C);
            Matrix(b + "ffn_down.weight", h + "mlp.c_proj.weight");
            Vector(b + "ffn_down.bias", h + "mlp.c_proj.bias", C);
        }

        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        var metadata = Metadata(config, tokenizer, type, name);
        w.Write(Magic);
        w.Write(3u);
        w.Write((ulong)entries.Count);
        w.Write((ulong)metadata.Count);
        foreach (var (key, write) in metadata) { WriteString(w, key); write(w); }

        long offset = 0;
        foreach (var e in entries)
        {
            WriteString(w, e.Name);
            w.Write((uint)e.Dims.Length);
            foreach (var d in e.Dims) w.Write((ulong)d);
            w.Write((uint)e.Type);
            w.Write((ulong)offset);
            offset = Align(offset + e.Bytes);
        }
        Pad(w);
        var start = stream.Position;
        foreach (var e in entries)
        {
            WriteData(w, e);
            Pad(w, start);
        }
        w.Flush();
    }

    static long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    static void Pad(BinaryWriter w, long from = 0)
    {
        var position = w.BaseStream.Position - from;
        for (var i = position; i < Align(position); i++) w.Write((byte)0);
    }

    static void WriteData(BinaryWriter w, Entry e)
    {
        switch (e.Type)
        {
            case GgufType.F32:
                foreach (var v in e.Values) w.Write(v);
                break;
            case GgufType.F16:
                foreach (var v in e.Values) w.Write((Half)v);
                break;
            case GgufType.Q8_0:
                var q = new sbyte[Kernels.Q8Block];
                for (var b = 0; b < e.Values.Length; b += Kernels.Q8Block)
                {
                    var scale = Q8Matrix.QuantizeBlock(e.Values.AsSpan(b, Kernels.Q8Block), q);
                    w.Write((Half)scale);
                    foreach (var v in q) w.Write(v);
                }
                break;
        }
    }

    // GGUF value types.
    const uint U32 = 4, I32 = 5, F32Value = 6, StringValue = 8, ArrayValue = 9;

    static List<(string Key, Action<BinaryWriter> Write)> Metadata(GptConfig config, ITokenizer tokenizer, GgufType type, string name)
    {
        (string, Action<BinaryWriter>) Uint(string key, int value) => (key, w => { w.Write(U32); w.Write((uint)value); });
        (string, Action<BinaryWriter>) Text(string key, string value) => (key, w => { w.Write(StringValue); WriteString(w, value); });

        var tokens = Vocabulary(tokenizer, config.VocabSize);
        var eot = tokenizer.EndOfText >= 0 && tokenizer.EndOfText < config.VocabSize ? tokenizer.EndOfText : 0;
        return
        [
            Text("general.architecture", "gpt2"),
            Text("general.name", name),
            Uint("general.file_type", type switch { GgufType.F32 => 0, GgufType.F16 => 1, _ => 7 }),
            Uint("general.alignment", Alignment),
            Uint("gpt2.context_length", config.ContextLength),
            Uint("gpt2.embedding_length", config.Embedding),
            Uint("gpt2.feed_forward_length", 4 * config.Embedding),
            Uint("gpt2.block_count", config.Layers),
            Uint("gpt2.attention.head_count", config.Heads),
            ("gpt2.attention.layer_norm_epsilon", w => { w.Write(F32Value); w.Write((float)config.LayerNormEpsilon); }),
            Text("tokenizer.ggml.model", "gpt2"),
            ("tokenizer.ggml.tokens", w =>
            {
                w.Write(ArrayValue); w.Write(StringValue); w.Write((ulong)tokens.Length);
                foreach (var t in tokens) WriteString(w, t);
            }),
            ("tokenizer.ggml.token_type", w =>
            {
                w.Write(ArrayValue); w.Write(I32); w.Write((ulong)tokens.Length);
                for (var i = 0; i < tokens.Length; i++) w.Write(i == tokenizer.EndOfText ? 3 : 1); // 3: control, 1: normal
            }),
            ("tokenizer.ggml.merges", w => { w.Write(ArrayValue); w.Write(StringValue); w.Write(0UL); }),
            Uint("tokenizer.ggml.bos_token_id", eot),
            Uint("tokenizer.ggml.eos_token_id", eot),
        ];
    }

    // One distinct string per id: its decoded text, or a placeholder where that is empty or taken.
    static string[] Vocabulary(ITokenizer tokenizer, int size)
    {
        var seen = new HashSet<string>();
        var tokens = new string[size];
        for (var i = 0; i < size; i++)
        {
            string text;
            try { text = i < tokenizer.VocabSize ? tokenizer.Decode([i]) : ""; }
            catch (ArgumentException) { text = ""; }
            if (i == tokenizer.EndOfText) text = "<|endoftext|>";
            tokens[i] = text.Length > 0 && !text.Contains('\uFFFD') && seen.Add(text) ? text : $"<|id_{i}|>";
            seen.Add(tokens[i]);
        }
        return tokens;
    }

    static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}
