using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;

namespace FewShot.Benchmarks;

/// <summary>
/// llama.cpp (through LLamaSharp's CPU backend) decoding a GGUF file the way <c>bench decode</c> decodes: batch 1,
/// greedy, from a one-token prompt, in runs of at most the context length, after a warm-up run.
/// </summary>
public static class LlamaCppPeer
{
    public static double TokensPerSecond(string gguf, int contextLength, int vocab, int tokens, int threads)
    {
        NativeLogConfig.llama_log_set((level, message) => { }); // its loader logs every tensor to stderr
        var parameters = new ModelParams(gguf)
        {
            ContextSize = (uint)contextLength, BatchSize = 512, Threads = threads, BatchThreads = threads, GpuLayerCount = 0,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);
        var batch = new LLamaBatch();
        var perRun = Math.Min(tokens, contextLength - 1);

        int Run(int first, int count)
        {
            context.NativeHandle.MemoryClear();
            var next = first;
            for (var position = 0; position < count; position++)
            {
                batch.Clear();
                batch.Add(next, position, LLamaSeqId.Zero, logits: true);
                if (context.Decode(batch) != LLama.Native.DecodeResult.Ok) throw new InvalidOperationException("llama.cpp failed to decode");
                var logits = context.NativeHandle.GetLogitsIth(0);
                next = 0;
                for (var i = 1; i < logits.Length; i++) if (logits[i] > logits[next]) next = i;
            }
            return count;
        }

        Run(0, Math.Min(perRun, 64)); // warm-up
        var watch = Stopwatch.StartNew();
        var generated = 0;
        while (generated < tokens) generated += Run(generated % vocab, Math.Min(perRun, tokens - generated));
        return generated / watch.Elapsed.TotalSeconds;
    }
}
