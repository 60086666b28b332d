using System.Collections.Concurrent;
using System.Diagnostics;
using FewShot.Data.Cleaning;
using FewShot.Data.Contamination;
using FewShot.Data.Dedup;
using FewShot.Data.Mixture;
using FewShot.Data.Quality;
using FewShot.Data.Readers;
using FewShot.Data.Shards;
using FewShot.Model;
using FewShot.Model.Tokenization;

namespace FewShot.Data;

/// <summary>
/// `fewshot data prepare`: reads every source of a mixture (in order), cleans, removes exact and near duplicates
/// (earlier sources win), applies GPT-3's quality filter to raw sources, drops documents that share a 13-gram with
/// the evaluation sets, holds out a validation split, tokenizes in parallel and writes token shards. manifest.json
/// is written last: a folder without it is incomplete. Re-running on the same input gives bitwise-identical shards.
/// </summary>
public static class DataPipeline
{
    const string EvalIndexFile = "eval-13grams.bin", TrainNGramsFile = "train-13grams.bin", HistogramFile = "quality-scores.png";

    sealed class Item(SourceDocument document)
    {
        public SourceDocument Document = document;
        public string? Text;
        public DropReason Reason;
        public bool Repaired, Contaminated;
        public ulong Hash;
        public uint[]? Signature;
        public double Score = double.NaN;
        public int[]? Tokens;
    }

    public static PrepareReport Prepare(MixtureSpec mixture, string outDir, PrepareOptions? options = null, IProgress<StageProgress>? progress = null, CancellationToken cancel = default)
    {
        options ??= new PrepareOptions();
        var clock = Stopwatch.StartNew();
        var sources = mixture.Sources.Where(s => s.Paths.Count > 0).ToList();
        if (sources.Count == 0) throw new FormatException("the mixture names no source with \"paths\" (sources with only \"tokens\" are for planning)");
        var warnings = new List<string>(mixture.Warnings);
        foreach (var s in mixture.Sources.Where(s => s.Paths.Count == 0)) warnings.Add($"source '{s.Name}' has no paths and is skipped (planning only)");
        Directory.CreateDirectory(outDir);
        ClearPreviousOutput(outDir);

        var tokenizer = TokenizerResolver.Resolve(mixture, outDir, options, progress, cancel);
        var bytesPerToken = tokenizer.VocabSize <= 65536 ? 2 : 4;
        var evalIndex = BuildEvalIndex(mixture, options, warnings);
        if (evalIndex is not null) evalIndex.Save(Path.Combine(outDir, EvalIndexFile));
        var classifier = TrainQualityFilter(mixture, sources, options, warnings, cancel);

        var exact = new ExactDeduplicator();
        var fuzzy = new MinHashDeduplicator(options.MinHash);
        var trainNGrams = new List<ulong>();
        var scores = new Dictionary<string, List<float>>();
        var reports = new List<SourceReport>();
        var shards = new List<ShardInfo>();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Workers), CancellationToken = cancel };
        var k = options.ValidationFraction > 0 ? Math.Max(2, (int)Math.Round(1 / options.ValidationFraction)) : int.MaxValue;

        foreach (var source in sources)
        {
            var report = new SourceReport { Name = source.Name };
            reports.Add(report);
            var log = new ReadLog();
            var filtered = classifier is not null && source.IsRaw;
            List<float>? sourceScores = null;
            if (classifier is not null && (source.IsRaw || source.IsReference)) scores[source.Name] = sourceScores = [];
            using var train = new ShardWriter(outDir, source.Name, "train", bytesPerToken, tokenizer.EndOfText, options.MaxTokensPerShard);
            using var val = new ShardWriter(outDir, source.Name, "val", bytesPerToken, tokenizer.EndOfText, options.MaxTokensPerShard);
            long kept = 0;
            foreach (var batch in Batches(DocumentReader.Read(source, mixture.BaseDirectory, log, options.Limits), options.BatchChars, cancel))
            {
                var items = batch.Select(d => new Item(d)).ToArray();
                // Pure per-document work in parallel; every decision below is sequential, in reading order (determinism).
                Parallel.For(0, items.Length, parallel, i =>
                {
                    var item = items[i];
                    var cleaned = TextCleaner.Clean(item.Document.Text, options.Cleaning);
                    (item.Text, item.Reason, item.Repaired) = (cleaned.Text, cleaned.Reason, cleaned.Repaired);
                    item.Document = item.Document with { Text = "" };
                    if (item.Text is null) return;
                    item.Hash = ExactDeduplicator.Hash(item.Text);
                    if (options.FuzzyDedup) item.Signature = MinHashDeduplicator.Signature(item.Text, options.MinHash);
                    if (sourceScores is not null) item.Score = classifier!.Score(item.Text, item.Hash);
                    if (evalIndex is not null) item.Contaminated = evalIndex.Overlaps(item.Text);
                });
                var survivors = new List<Item>(items.Length);
                foreach (var item in items)
                {
                    report.DocumentsRead++;
                    if (item.Repaired) report.Utf8Repaired++;
                    if (item.Text is null) { var reason = ReasonName(item.Reason); report.CleaningDropped[reason] = report.CleaningDropped.GetValueOrDefault(reason) + 1; continue; }
                    if (options.ExactDedup && !exact.TryAdd(item.Hash)) { report.ExactDuplicates++; continue; }
                    if (item.Signature is not null && !fuzzy.TryAdd(item.Signature)) { report.FuzzyDuplicates++; continue; }
                    if (!double.IsNaN(item.Score) && sourceScores!.Count < 200_000) sourceScores.Add((float)item.Score);
                    if (filtered)
                    {
                        report.QualityScored++;
                        if (!classifier!.Keep(item.Score, item.Hash)) { report.QualityFiltered++; continue; }
                    }
                    if (item.Contaminated) { report.Decontaminated++; continue; }
                    survivors.Add(item);
                }
                Parallel.For(0, survivors.Count, parallel, i => survivors[i].Tokens = tokenizer.Encode(survivors[i].Text!));
                foreach (var item in survivors)
                {
                    var tokens = item.Tokens!;
                    var bytes = (long)System.Text.Encoding.UTF8.GetByteCount(item.Text!);
                    var toVal = kept++ % k == k - 1;
                    var writer = toVal ? val : train;
                    if (!toVal && tokens.Length >= options.LongDocumentTokens && options.ValidationFraction > 0)
                    {
                        // A long document also gives its tail to validation, so a one-file corpus gets a split.
                        var tail = (int)(tokens.Length * options.ValidationFraction);
                        train.Append(tokens.AsSpan(0, tokens.Length - tail), bytes);
                        val.Append(tokens.AsSpan(tokens.Length - tail), 0);
                        Count(report, false, tokens.Length - tail + 1);
                        report.ValTokens += tail + 1;
                    }
                    else
                    {
                        writer.Append(tokens, bytes);
                        Count(report, toVal, tokens.Length + 1);
                    }
                    report.TextBytes += bytes;
                    if (!toVal && options.WriteTrainNGrams)
                        foreach (var h in ContaminationIndex.NGrams(item.Text!, options.ContaminationN))
                            if (h % (ulong)options.TrainNGramSampling == 0) trainNGrams.Add(h);
                }
                progress?.Report(new StageProgress("prepare", source.Name, report.DocumentsRead, null, "docs"));
            }
            train.Close();
            val.Close();
            shards.AddRange(train.Shards);
            shards.AddRange(val.Shards);
            (report.SkippedRecords, report.SkipMessages) = (log.Skipped, log.FirstMessages);
            if (trainNGrams.Count > 4_000_000) Compact(trainNGrams);
        }

        if (reports.Sum(r => r.TokensWritten) == 0)
            throw new InvalidDataException("empty corpus: no document survived reading, cleaning and filtering ("
                + string.Join("; ", reports.Select(r => $"{r.Name}: read {r.DocumentsRead}, skipped {r.SkippedRecords}, dropped {r.CleaningDroppedTotal}"
                    + (r.SkipMessages.Count > 0 ? $", first problem: {r.SkipMessages[0]}" : ""))) + "); nothing was written as complete");

        string? histogram = null;
        if (scores.Count > 0)
        {
            ScoreHistogram.Save(Path.Combine(outDir, HistogramFile), scores);
            histogram = HistogramFile;
        }
        if (options.WriteTrainNGrams)
            ContaminationIndex.FromHashes(trainNGrams, options.ContaminationN, options.TrainNGramSampling).Save(Path.Combine(outDir, TrainNGramsFile));

        var result = new PrepareReport
        {
            OutDir = Path.GetFullPath(outDir), Tokenizer = tokenizer.Name, Sources = reports, Warnings = warnings,
            QualityTrainingAccuracy = classifier?.TrainingAccuracy, QualityHistogram = histogram,
            EvalIndexNGrams = evalIndex?.Count ?? 0, Seconds = clock.Elapsed.TotalSeconds,
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, PrepareReport.FileName), result.ToJson());
        new ShardManifest
        {
            Dtype = bytesPerToken == 2 ? "uint16" : "uint32",
            Tokenizer = tokenizer.Describe(),
            EndOfText = tokenizer.EndOfText,
            Sources = [.. sources.Zip(reports, (s, r) => new SourceTotals
            {
                Name = s.Name, Weight = s.Weight, Documents = r.DocumentsWritten, Tokens = r.TokensWritten, TextBytes = r.TextBytes,
                ValDocuments = r.ValDocuments, ValTokens = r.ValTokens,
            })],
            Shards = shards,
            EvalIndex = evalIndex is null ? null : EvalIndexFile,
            TrainNGrams = options.WriteTrainNGrams ? TrainNGramsFile : null,
        }.Save(outDir);
        return result;
    }

    /// <summary>The 13-gram index of the training data a prepare run saved (sampled; see PrepareOptions.TrainNGramSampling).</summary>
    public static ContaminationIndex LoadTrainingNGrams(string dataDir)
    {
        var manifest = ShardManifest.Load(dataDir);
        return ContaminationIndex.Load(Path.Combine(dataDir, manifest.TrainNGrams ?? throw new FileNotFoundException($"{dataDir}: prepared without a training n-gram index")));
    }

    static void Count(SourceReport report, bool toVal, long tokens)
    {
        if (toVal) { report.ValDocuments++; report.ValTokens += tokens; }
        else { report.DocumentsWritten++; report.TokensWritten += tokens; }
    }

    static string ReasonName(DropReason reason) => reason switch
    {
        DropReason.Empty => "empty", DropReason.TooShort => "too_short", DropReason.TooLong => "too_long", DropReason.InvalidUtf8 => "invalid_utf8", _ => "other",
    };

    static void Compact(List<ulong> hashes)
    {
        hashes.Sort();
        var unique = 0;
        for (var i = 0; i < hashes.Count; i++) if (unique == 0 || hashes[i] != hashes[unique - 1]) hashes[unique++] = hashes[i];
        hashes.RemoveRange(unique, hashes.Count - unique);
    }

    /// <summary>Removes what an earlier run wrote (manifest first, so the folder reads as incomplete from here on).</summary>
    static void ClearPreviousOutput(string outDir)
    {
        File.Delete(Path.Combine(outDir, ShardManifest.FileName));
        foreach (var pattern in new[] { "train-*.bin", "val-*.bin", ".*.tmp", "*-13grams.bin", PrepareReport.FileName, HistogramFile })
            foreach (var file in Directory.EnumerateFiles(outDir, pattern)) File.Delete(file);
    }

    /// <summary>Reads on a background thread, handing over batches of about <paramref name="batchChars"/> characters (two in flight at most).</summary>
    static IEnumerable<List<SourceDocument>> Batches(IEnumerable<SourceDocument> documents, int batchChars, CancellationToken cancel)
    {
        using var queue = new BlockingCollection<List<SourceDocument>>(boundedCapacity: 2);
        Exception? failure = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var reader = Task.Run(() =>
        {
            try
            {
                var batch = new List<SourceDocument>();
                long chars = 0;
                foreach (var document in documents)
                {
                    batch.Add(document);
                    if ((chars += document.Text.Length) >= batchChars || batch.Count >= 4096) { queue.Add(batch, stop.Token); batch = []; chars = 0; }
                }
                if (batch.Count > 0) queue.Add(batch, stop.Token);
            }
            catch (OperationCanceledException) { }
            catch (Exception e) { failure = e; }
            finally { queue.CompleteAdding(); }
        });
        try
        {
            foreach (var batch in queue.GetConsumingEnumerable(cancel)) yield return batch;
        }
        finally
        {
            stop.Cancel();
            reader.Wait();
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    static ContaminationIndex? BuildEvalIndex(MixtureSpec mixture, PrepareOptions options, List<string> warnings)
    {
        if (mixture.EvalSets.Count == 0) return null;
        var texts = mixture.EvalSets.SelectMany(set =>
        {
            var spec = new SourceSpec { Name = set.Name, Paths = set.Paths, Format = set.Format, TextField = set.TextField };
            var log = new ReadLog();
            return DocumentReader.Read(spec, mixture.BaseDirectory, log, options.Limits).Select(d => d.Text);
        });
        var index = ContaminationIndex.Build(texts, options.ContaminationN);
        if (index.Count == 0) warnings.Add($"the evaluation sets hold no {options.ContaminationN}-word passage: nothing to decontaminate against");
        return index;
    }

    static QualityFilter? TrainQualityFilter(MixtureSpec mixture, List<SourceSpec> sources, PrepareOptions options, List<string> warnings, CancellationToken cancel)
    {
        if (!options.QualityFilter) return null;
        var references = sources.Where(s => s.IsReference).ToList();
        var raws = sources.Where(s => s.IsRaw).ToList();
        if (raws.Count == 0) return null;
        if (references.Count == 0) { warnings.Add("a source has role \"raw\" but none has role \"reference\": the quality filter is off"); return null; }
        List<string> Sample(List<SourceSpec> group)
        {
            var result = new List<string>();
            var each = options.Quality.MaxTrainDocuments / group.Count;
            foreach (var source in group)
                foreach (var d in DocumentReader.Read(source, mixture.BaseDirectory, new ReadLog(), options.Limits).Take(each * 2))
                {
                    cancel.ThrowIfCancellationRequested();
                    var text = TextCleaner.Clean(d.Text, options.Cleaning).Text;
                    if (text is not null && result.Count < each * (group.IndexOf(source) + 1)) result.Add(text);
                }
            return result;
        }
        var positives = Sample(references);
        var negatives = Sample(raws);
        if (positives.Count == 0 || negatives.Count == 0) { warnings.Add("the reference or raw sources gave no usable document: the quality filter is off"); return null; }
        return QualityFilter.Train(positives, negatives, options.Quality);
    }
}
