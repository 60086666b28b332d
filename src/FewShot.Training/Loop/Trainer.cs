using System.Diagnostics;
using System.Text.Json.Nodes;
using FewShot.Model;
using FewShot.Model.Inference;
using FewShot.Model.Generation;
using FewShot.Model.Runtime;
using FewShot.Model.Tokenization;
using FewShot.Training.Checkpoints;
using FewShot.Training.Batches;
using FewShot.Training.Optimization;
using FewShot.Training.Recipes;
using FewShot.Training.Schedules;
using TorchSharp;
using static TorchSharp.torch;

namespace FewShot.Training.Loop;

/// <summary>
/// Trains a <see cref="Gpt"/> on batches from an <see cref="ITokenBatchSource"/> with a <see cref="TrainingRecipe"/>.
/// It knows nothing about consoles or files beyond its checkpoint store: whoever runs it subscribes to the events
/// (minGPT's callbacks) to show progress, write metrics or stop early.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly Gpt model;
    readonly ITokenBatchSource data;
    readonly TrainingRecipe recipe;
    readonly CheckpointStore? store;
    readonly ITokenizer? tokenizer;
    readonly AdamW optimizer;
    readonly LearningRateSchedule schedule;
    readonly BatchRamp ramp;
    readonly Device device;
    readonly string fingerprint;
    readonly long[] inputBuffer, targetBuffer;
    List<(Tensor Inputs, Tensor Targets)>? validation;
    ReplicaWorker? replica;
    readonly MatrixPrecision precisionBefore; // the model's own setting, given back on Dispose

    public long Step { get; private set; }
    public long Tokens { get; private set; }
    public double? BestValidationLoss { get; private set; }
    public double? LastValidationLoss { get; private set; }

    /// <summary>Raised after every optimizer step.</summary>
    public event Action<StepReport>? StepCompleted;
    /// <summary>Raised after every validation pass.</summary>
    public event Action<EvaluationReport>? Evaluated;
    /// <summary>Raised after a checkpoint is safely on disk.</summary>
    public event Action<CheckpointInfo>? CheckpointSaved;
    /// <summary>Messages for people (a damaged checkpoint skipped, ...).</summary>
    public event Action<string>? Message;

    /// <summary>The fp32 FLOP/s that MFU is relative to: the machine's fixed peak (<see cref="MachinePeak"/>).</summary>
    public double PeakFlops { get; set; } = double.NaN;

    /// <summary>Accumulated time per phase of the training step (see <see cref="StepTimings"/>).</summary>
    public StepTimings Timings { get; } = new();

    public Trainer(Gpt model, ITokenBatchSource data, TrainingRecipe recipe, CheckpointStore? store = null, ITokenizer? tokenizer = null)
    {
        this.model = model;
        this.data = data;
        this.recipe = recipe.Validate();
        this.store = store;
        this.tokenizer = tokenizer;
        device = model.parameters().First().device;
        optimizer = new AdamW(ParameterGroups.Split(model, recipe.WeightDecay), recipe.Beta1, recipe.Beta2, recipe.Epsilon);
        schedule = LearningRateSchedule.For(recipe);
        ramp = BatchRamp.For(recipe);
        fingerprint = Fingerprint(recipe, model.Config);
        inputBuffer = new long[recipe.MicroBatch * recipe.Context];
        targetBuffer = new long[recipe.MicroBatch * recipe.Context];
        (precisionBefore, model.MatrixPrecision) = (model.MatrixPrecision, MatrixPrecisions.Parse(recipe.Precision));
        if (ThreadSetting.Replicas(recipe) == 2) replica = new ReplicaWorker(model, optimizer.Flat, recipe.WeightDecay);
        NativeHeap.KeepFreedMemoryUntilTrim(); // the loop trims every HeapTrimInterval steps
    }

    /// <summary>Model copies computing each micro-batch together (1, or 2 on small CPU models: see <see cref="ThreadSetting"/>).</summary>
    public int Replicas => replica is null ? 1 : 2;

    public LearningRateSchedule Schedule => schedule;
    public BatchRamp Ramp => ramp;
    public AdamW Optimizer => optimizer;

    /// <summary>
    /// Identifies what a checkpoint can be resumed with: the model shape and everything that changes the numbers
    /// (a resumed run may only differ in bookkeeping such as the eval interval). The thread count and the precision
    /// are bookkeeping too: a run may move to a machine with more cores, or without AVX512-BF16; it then continues
    /// with different float rounding (bitwise equality with an uninterrupted run needs the same settings).
    /// </summary>
    public static string Fingerprint(TrainingRecipe recipe, GptConfig config)
    {
        var json = recipe.ToJson();
        foreach (var bookkeeping in new[] { "eval_interval", "eval_batches", "sample_tokens", "checkpoint_interval", "keep_checkpoints", "log_interval", "iters", "train_tokens", "device", "preset", "threads", "precision" })
            json.Remove(bookkeeping);
        var model = config.ToJson();
        // GPT-2's initialisation is the default and was not a key before: leaving it out keeps older runs resumable.
        if (json["weight_init"]?.GetValue<string>() == WeightInit.Gpt2) json.Remove("weight_init");
        if (model["weight_init"]?.GetValue<string>() == WeightInit.Gpt2) model.Remove("weight_init");
        json["model"] = model;
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json.ToJsonString())))[..16];
    }

    /// <summary>Continues from the newest good checkpoint in the store; false when there is none.</summary>
    public bool TryResume()
    {
        if (store?.LoadLatestGood(m => Message?.Invoke(m)) is not { } found) return false;
        var (info, tensors) = found;
        try
        {
            if (info.RecipeFingerprint != fingerprint)
                throw new ArgumentException($"{store.Folder}: the checkpoints belong to a different model or recipe (fingerprint {info.RecipeFingerprint}, this run {fingerprint})");
            var weights = tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value);
            var moments = tensors.Where(kv => kv.Key.StartsWith("optim.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["optim.".Length..], kv => kv.Value);
            using (no_grad())
                foreach (var (name, parameter) in model.state_dict())
                {
                    if (!weights.TryGetValue(name, out var value)) throw new InvalidDataException($"{store.Folder}: checkpoint step {info.Step} lacks '{name}'");
                    parameter.copy_(value);
                }
            optimizer.LoadState(moments, info.Step, $"{store.Folder}/{info.TensorFile}");
            if (tensors.TryGetValue("rng.torch", out var rng)) torch.set_rng_state(rng);
            data.RestoreState(info.DataState);
            replica?.CopyWeightsFrom(optimizer.Flat);
            (Step, Tokens, BestValidationLoss, LastValidationLoss) = (info.Step, info.Tokens, info.BestValidationLoss, info.ValidationLoss);
            Message?.Invoke($"resumed from step {info.Step} ({info.Tokens:N0} tokens)");
            return true;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>Trains until the recipe's last step (or cancellation), evaluating and checkpointing on the way.</summary>
    public TrainingResult Run(CancellationToken cancel = default)
    {
        var total = recipe.TotalIterations;
        var flopsPerToken = ModelFlops.PerToken(model.Config);
        var watch = Stopwatch.StartNew();
        var startTokens = Tokens;
        var window = new Queue<(double Seconds, long Tokens)>();
        window.Enqueue((0, Tokens));
        double lastLoss = double.NaN, windowLossSum = 0;
        var windowLossCount = 0;
        var cancelled = false;
        model.train();

        while (Step < total)
        {
            if (cancel.IsCancellationRequested) { cancelled = true; break; }
            var (loss, norm, micro, lr) = TrainStep();
            Step++;
            lastLoss = loss;
            windowLossSum += loss;
            windowLossCount++;

            // Throughput over the last ~20 steps, so the rate follows the batch ramp and ignores start-up.
            var seconds = watch.Elapsed.TotalSeconds;
            window.Enqueue((seconds, Tokens));
            if (window.Count > 21) window.Dequeue();
            var (firstSeconds, firstTokens) = window.Peek();
            var rate = seconds > firstSeconds ? (Tokens - firstTokens) / (seconds - firstSeconds) : 0;
            var remaining = rate > 0 ? TimeSpan.FromSeconds((total - Step) * (double)ramp.FullBatchTokens / rate) : TimeSpan.Zero;
            var flops = rate * flopsPerToken;
            StepCompleted?.Invoke(new StepReport(Step, total, Tokens, loss, lr, norm, micro, rate, flops, flops / PeakFlops, watch.Elapsed, remaining));

            var last = Step == total;
            double? trainLoss = null;
            if (Step % recipe.LogInterval == 0 || last) { trainLoss = windowLossSum / windowLossCount; windowLossSum = 0; windowLossCount = 0; }
            if (Step % recipe.EvalInterval == 0 || last) Evaluate(trainLoss ?? loss);
            if (store is not null && (Step % recipe.ResolvedCheckpointInterval == 0 || last)) SaveCheckpoint();
            if (Step % HeapTrimInterval == 0) NativeHeap.Trim();
        }

        var trainTime = watch.Elapsed;
        if (cancelled && store is not null && Step > 0) SaveCheckpoint();
        return new TrainingResult(Step, Tokens, lastLoss, LastValidationLoss ?? double.NaN, BestValidationLoss ?? double.NaN,
            trainTime, (Tokens - startTokens) / Math.Max(1e-9, trainTime.TotalSeconds), cancelled);
    }

    /// <summary>
    /// Steps between trims of the C heap (<see cref="NativeHeap"/>): without them glibc keeps freed tensor memory
    /// resident (a 0.5M-parameter model went from 273 to 589 MB over 1,000 steps; with them it stays near 310 MB).
    /// A trim takes ~10 ms, and faulting the released pages back in ~50 ms more: about 1% of 100 such steps.
    /// </summary>
    internal const int HeapTrimInterval = 100;

    /// <summary>Clips the gradients (returning their norm before clipping; NaN without a clip), steps AdamW, clears them.</summary>
    double OptimizerStep(double lr)
    {
        var clipStart = StepTimings.Now;
        var norm = recipe.GradClip > 0 ? nn.utils.clip_grad_norm_(optimizer.Parameters, recipe.GradClip) : double.NaN;
        Timings.Clip += StepTimings.Since(clipStart);
        var optimizerStart = StepTimings.Now;
        optimizer.Step(lr);
        optimizer.ZeroGrad();
        Timings.Optimizer += StepTimings.Since(optimizerStart);
        return norm;
    }

    /// <summary>
    /// <see cref="OptimizerStep"/> with two replicas: each thread takes half of the flat buffers, first to sum the
    /// replica's gradients into the model's and take their squared norm, then (once the global norm is known) to clip,
    /// update, clear the gradients and copy the new weights to the replica. The same arithmetic as libtorch's
    /// clip_grad_norm_ (factor max_norm / (norm + 1e-6), at most 1) and <see cref="AdamW.Step"/>, in half the time of
    /// one thread doing it while the other waits.
    /// </summary>
    double OptimizerStepOnBothReplicas(double lr, ReplicaWorker replica)
    {
        var total = optimizer.Flat.Data.numel();
        var half = total / 2;
        var clipStart = StepTimings.Now;
        var replicaSquares = 0.0;
        replica.Run(_ => replicaSquares = replica.AddGradientsTo(optimizer.Flat, half, total));
        var squares = replica.AddGradientsTo(optimizer.Flat, 0, half);
        replica.Wait();
        var norm = Math.Sqrt(squares + replicaSquares);
        Timings.Clip += StepTimings.Since(clipStart);

        var optimizerStart = StepTimings.Now;
        var clip = recipe.GradClip > 0 ? Math.Min(1, recipe.GradClip / (norm + 1e-6)) : 1;
        optimizer.BeginStep();
        void Update(long from, long to)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            optimizer.Update(lr, from, to, gradientScale: clip);
            optimizer.Flat.Grad.narrow(0, from, to - from).zero_();
            replica.CopyWeightsFrom(optimizer.Flat, from, to);
        }
        replica.Run(_ => Update(half, total));
        Update(0, half);
        replica.Wait();
        Timings.Optimizer += StepTimings.Since(optimizerStart);
        return recipe.GradClip > 0 ? norm : double.NaN;
    }

    /// <summary>One optimizer step: forward/backward over the step's micro-batches, clip, AdamW.</summary>
    (double Loss, double GradNorm, int MicroBatches, double LearningRate) TrainStep()
    {
        if (replica is null) return TrainStepCore();
        (double, double, int, double) result = default;
        WithoutCollection(() => result = TrainStepCore());
        return result;
    }

    /// <summary>
    /// Runs <paramref name="work"/>, during which both replicas call into libtorch, with no garbage collection. With two
    /// threads in libtorch at once, a collection triggered by one thread could finalize a temporary TorchSharp Scalar
    /// that the other is still passing to native code (observed as a crash in THSTensor_add after ~200 steps). The
    /// garbage of one step is small, and it is collected between steps, when the replica thread is idle.
    /// </summary>
    static void WithoutCollection(Action work)
    {
        var noCollection = GC.TryStartNoGCRegion(NoCollectionBudget);
        try { work(); }
        finally
        {
            if (noCollection && System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
    }

    const long NoCollectionBudget = 64L << 20;

    (double Loss, double GradNorm, int MicroBatches, double LearningRate) TrainStepCore()
    {
        using var scope = NewDisposeScope();
        var lr = schedule.At(Step, Tokens);
        var micro = ramp.MicroBatchesAt(Tokens);
        var (b, t) = (recipe.MicroBatch, recipe.Context);
        Tensor? lossSum = null;
        for (var i = 0; i < micro; i++)
        {
            var start = StepTimings.Now;
            data.NextBatch(b, t, inputBuffer, targetBuffer);
            var x = tensor(inputBuffer, [b, t], device: device);
            var y = tensor(targetBuffer, [b, t], device: device);
            Timings.Data += StepTimings.Since(start);

            if (replica is not null)
            {
                // Rows [0, mine) here, [mine, b) on the replica's thread; each half's mean loss weighted by its rows.
                var mine = (b + 1) / 2;
                start = StepTimings.Now;
                replica.Begin(inputBuffer, targetBuffer, mine, b - mine, t, (double)(b - mine) / b / micro);
                var half = model.Loss(x[..mine], y[..mine]);
                (half * ((double)mine / b / micro)).backward();
                replica.Wait();
                Timings.Backward += StepTimings.Since(start);
                var combined = half.detach() * ((double)mine / b) + replica.Loss * ((double)(b - mine) / b);
                lossSum = lossSum is null ? combined : lossSum.add_(combined);
                continue;
            }

            start = StepTimings.Now;
            var loss = model.Loss(x, y);
            Timings.Forward += StepTimings.Since(start);

            start = StepTimings.Now;
            (micro == 1 ? loss : loss / micro).backward();
            lossSum = lossSum is null ? loss.detach() : lossSum.add_(loss.detach());
            Timings.Backward += StepTimings.Since(start);
        }
        var norm = replica is null ? OptimizerStep(lr) : OptimizerStepOnBothReplicas(lr, replica);
        Timings.Steps++;
        Tokens += (long)micro * b * t;
        return (lossSum!.item<float>() / micro, norm, micro, lr);
    }

    /// <summary>
    /// Mean loss over the fixed validation batches (every token weighs the same), and over the early and late positions
    /// of the context (<see cref="ValidationLosses"/>).
    /// </summary>
    public ValidationLosses ValidationLoss()
    {
        validation ??= BuildValidation();
        var wasTraining = model.training;
        model.eval();
        try
        {
            // Sums of the token losses per chunk: all, early positions, late positions. With a replica it scores every
            // other chunk on its own thread (no collection meanwhile, as in a training step); the sums are added in
            // chunk order either way, so the result does not depend on who scored what.
            var sums = new (double All, double Early, double Late)[validation.Count];
            if (replica is null) ScoreChunks(model, sums, 0, 1);
            else
                WithoutCollection(() =>
                {
                    replica.Run(r => ScoreChunks(r, sums, 1, 2));
                    try { ScoreChunks(model, sums, 0, 2); }
                    finally { replica.Wait(); }
                });
            var t = recipe.Context;
            var (earlyEnd, lateStart) = EarlyLate(t);
            double sum = 0, early = 0, late = 0;
            long count = 0, earlyCount = 0, lateCount = 0;
            for (var i = 0; i < validation.Count; i++)
            {
                var rows = validation[i].Inputs.shape[0];
                (sum, early, late) = (sum + sums[i].All, early + sums[i].Early, late + sums[i].Late);
                (count, earlyCount, lateCount) = (count + rows * t, earlyCount + rows * earlyEnd, lateCount + rows * (t - lateStart));
            }
            return new ValidationLosses(sum / count, early / earlyCount, late / lateCount);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>The early positions [0, earlyEnd) and the late ones [lateStart, T) of a context of T.</summary>
    static (int EarlyEnd, int LateStart) EarlyLate(int t) => (Math.Max(1, t / 8), t / 2);

    /// <summary>Scores validation chunks first, first + stride, ... with <paramref name="scorer"/> into <paramref name="sums"/>.</summary>
    void ScoreChunks(Gpt scorer, (double, double, double)[] sums, int first, int stride)
    {
        var wasTraining = scorer.training;
        scorer.eval();
        using var _ = no_grad();
        var (earlyEnd, lateStart) = EarlyLate(recipe.Context);
        for (var i = first; i < validation!.Count; i += stride)
        {
            using var scope = NewDisposeScope();
            var (x, y) = validation[i];
            var losses = scorer.TokenLosses(x, y);   // (rows, T)
            sums[i] = (losses.sum().item<float>(), losses[.., ..earlyEnd].sum().item<float>(), losses[.., lateStart..].sum().item<float>());
        }
        scorer.train(wasTraining);
    }

    /// <summary>
    /// Tokens per validation forward pass (whole batches of fixed windows stacked). Measured on the Shakespeare model
    /// (200 batches of 768 tokens, with the heap kept by <see cref="NativeHeap.KeepFreedMemoryUntilTrim"/>): chunks of
    /// 8,192 tokens took ~2.0 s an evaluation, 2,048 ~1.8 s. Per-call overheads are already small at 2,048 tokens,
    /// and a large vocabulary's logits take a quarter of the memory.
    /// </summary>
    const int ValidationChunkTokens = 2048;

    /// <summary>The fixed batches, stacked into chunks of up to <see cref="ValidationChunkTokens"/>: fewer forward passes, same mean.</summary>
    List<(Tensor, Tensor)> BuildValidation()
    {
        var (b, t) = (recipe.MicroBatch, recipe.Context);
        var batches = data.ValidationBatches(recipe.EvalBatches, b, t);
        var perChunk = Math.Max(1, ValidationChunkTokens / (b * t));
        var chunks = new List<(Tensor, Tensor)>();
        for (var start = 0; start < batches.Count; start += perChunk)
        {
            var group = batches.Skip(start).Take(perChunk).ToList();
            var rows = group.Count * b;
            var x = tensor(group.SelectMany(g => g.Inputs).ToArray(), [rows, t], device: device).DetachFromDisposeScope();
            var y = tensor(group.SelectMany(g => g.Targets).ToArray(), [rows, t], device: device).DetachFromDisposeScope();
            chunks.Add((x, y));
        }
        return chunks;
    }

    void Evaluate(double trainLoss)
    {
        var watch = Stopwatch.StartNew();
        var losses = ValidationLoss();
        LastValidationLoss = losses.Loss;
        if (BestValidationLoss is null || losses.Loss < BestValidationLoss) BestValidationLoss = losses.Loss;
        var sample = recipe.SampleTokens > 0 && tokenizer is not null ? Sample() : null;
        Evaluated?.Invoke(new EvaluationReport(Step, Tokens, losses, trainLoss, sample, watch.Elapsed));
    }

    string Sample()
    {
        // Its own seeded generator: sampling never moves the training RNG, so evaluation cannot change the run.
        var prompt = tokenizer!.EndOfText >= 0 ? new[] { tokenizer.EndOfText } : tokenizer.Encode("\n");
        var options = new SamplingOptions { MaxNewTokens = recipe.SampleTokens, Temperature = 0.8, Seed = recipe.Seed };
        // The fused decoder over a snapshot of the weights, on this thread: 200 tokens of the Shakespeare model take
        // ~20 ms there against 80-370 ms through libtorch's per-operation calls (four evaluations a run).
        using var fused = FusedDecoding.From(model, WeightFormat.F32, threads: 1);
        return new TextGenerator(model, tokenizer, fused).Generate([prompt], options)[0].Text;
    }

    void SaveCheckpoint()
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, value) in model.state_dict()) tensors["model." + name] = value;
        foreach (var (name, value) in optimizer.StateTensors()) tensors["optim." + name] = value;
        using var rng = torch.get_rng_state();
        tensors["rng.torch"] = rng;
        var describe = new CheckpointInfo(Step, Tokens, LastValidationLoss, BestValidationLoss, data.SaveState(), fingerprint, "", "", 0);
        try
        {
            var saved = store!.Save(tensors, describe); // not inside ?.Invoke(...): that skips its argument when nobody listens
            CheckpointSaved?.Invoke(saved);
        }
        catch (IOException e)
        {
            var previous = store!.List().LastOrDefault();
            throw new CheckpointWriteException($"checkpoint at step {Step} was not written ({e.Message}); " +
                (previous is null ? "no earlier checkpoint exists" : $"the last good checkpoint is step {previous.Step}"), e);
        }
    }

    public void Dispose()
    {
        model.MatrixPrecision = precisionBefore;
        replica?.Dispose();
        optimizer.Dispose();
        if (validation is not null) foreach (var (x, y) in validation) { x.Dispose(); y.Dispose(); }
    }
}

/// <summary>A checkpoint could not be written (disk full, permissions); the previous good one is intact.</summary>
public sealed class CheckpointWriteException(string message, Exception inner) : IOException(message, inner);
