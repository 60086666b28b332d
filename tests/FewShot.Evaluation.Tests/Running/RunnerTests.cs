using FewShot.Data.Contamination;
using FewShot.Evaluation.Contamination;
using FewShot.Evaluation.Reports;
using FewShot.Evaluation.Running;
using FewShot.Evaluation.TaskFiles;

namespace FewShot.Evaluation.Tests.Running;

public class RunnerTests
{
    static EvalTask Arithmetic(int count = 12) => EvalTask.Load(TaskConfig.Parse($$$"""
        {"name": "2D+", "description": "Add.", "splits": {"train": {"generator": "2D+", "seed": 1, "count": {{{count}}}},
         "test": {"generator": "2D+", "seed": 2, "count": {{{count}}}}, "ood": {"generator": "3D+", "seed": 3, "count": {{{count}}}}},
         "ood_split": "ood", "query_template": "{context}", "answer_template": "{completion}", "answer_delimiter": "",
         "example_separator": "\n", "output_type": "loglikelihood"}
        """, "arith.json", null));

    static EvalTask Choices() => EvalTask.Load(TaskConfig.Parse("""
        {"name": "mc", "splits": {"test": {"generator": "dotnet-types", "seed": 2, "count": 6}}, "query_template": "{context}",
         "answer_template": "{answer}", "answer_delimiter": "", "example_separator": "\n", "output_type": "multiple_choice"}
        """, "mc.json", null));

    static EvalTask Generation() => EvalTask.Load(TaskConfig.Parse("""
        {"name": "qa", "splits": {"test": {"generator": "RW", "seed": 2, "count": 4}}, "query_template": "{context}",
         "answer_template": "{completion}", "answer_delimiter": "", "example_separator": "\n", "output_type": "generate_until",
         "max_new_tokens": 6, "decoding": "beam"}
        """, "qa.json", null));

    [Fact]
    public void EveryTaskKindProducesMetricsWithStandardErrorsAndPerExampleRows()
    {
        var lm = TestSupport.TinyModel(context: 512);
        var report = new EvalRunner(lm, new EvalOptions { Shots = [0, 2], Limit = 4, Descriptions = DescriptionMode.Both })
            .Run([Arithmetic(), Choices(), Generation()]);

        var arithmetic = report.Results.Where(r => r.Task == "2D+" && r.Mode == "icl" && r.Metric == "acc").ToList();
        Assert.Equal(2 * 2 * 2, arithmetic.Count); // K x description x (iid, ood)
        Assert.All(arithmetic, r => { Assert.Equal(4, r.N); Assert.InRange(r.Value, 0, 1); Assert.False(double.IsNaN(r.StdErr)); });
        Assert.Contains(report.Results, r => r.Task == "mc" && r.Metric == "acc_unconditional" && r.N == 4);
        Assert.Contains(report.Results, r => r.Task == "qa" && r.Metric == "f1");
        Assert.Contains(report.Results, r => r.Task == "2D+" && r.Mode == "bag_of_words" && r.Split == "ood");
        Assert.Equal(2.0, report.Results.First(r => r.Task == "2D+" && r.Shots == 2).EffectiveShots);

        var withDescription = report.Examples.First(e => e.Task == "2D+" && e.Description && e.Shots == 2);
        Assert.StartsWith("Add.\n\n", withDescription.Prompt);
        Assert.Equal(3, withDescription.Prompt.Split("Q: What is").Length - 1); // two demonstrations and the query after the description
        Assert.Equal(4 * 2 * 2 * 2 + 4 * 2 + 4 * 2, report.Examples.Count);
    }

    [Fact]
    public void ResultsAreWrittenAtomicallyAndReadBackForPlots()
    {
        using var folder = new TempFolder();
        var lm = TestSupport.TinyModel();
        var report = new EvalRunner(lm, new EvalOptions { Shots = [0, 1, 3], Limit = 3, Descriptions = DescriptionMode.Both }).Run([Arithmetic()]);
        var (results, examples) = ResultsFile.Write(report, folder.Path);
        Assert.Equal(report.Examples.Count, File.ReadAllLines(examples).Length);
        Assert.DoesNotContain(Directory.GetFiles(folder.Path), f => f.EndsWith(".tmp"));
        var read = ResultsFile.Read(results);
        Assert.Equal(lm.Hash, read.Model.Hash);
        Assert.Equal(report.Results.Count, read.Results.Count);
        Assert.Contains("\"stderr\"", File.ReadAllText(results));
        Assert.Contains("\"config_hash\"", File.ReadAllText(results));

        var shots = ResultPlots.AccuracyAgainstShots([read], Path.Combine(folder.Path, "k.png"));
        var larger = read with { Model = read.Model with { Parameters = read.Model.Parameters * 10 } };
        var size = ResultPlots.AccuracyAgainstSize([read, larger], Path.Combine(folder.Path, "size.png"));
        var gap = ResultPlots.GapAgainstSize([read, larger], Path.Combine(folder.Path, "gap.png"));
        foreach (var png in new[] { shots, size, gap })
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
    }

    [Fact]
    public void AContextTooSmallForZeroShotFailsBeforeAnyScoringAndWritesNothing()
    {
        using var folder = new TempFolder();
        var lm = TestSupport.TinyModel(context: 16);
        var scored = 0;
        var e = Assert.Throws<ArgumentException>(() =>
        {
            var report = new EvalRunner(lm, new EvalOptions { Shots = [0], OnProgress = (_, done, _) => scored += done }).Run([Arithmetic()]);
            ResultsFile.Write(report, folder.Path);
        });
        Assert.Contains("cannot hold even the zero-shot prompt", e.Message);
        Assert.Equal(0, scored);
        Assert.Empty(Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void KLargerThanThePoolFailsBeforeScoring()
    {
        var e = Assert.Throws<ArgumentException>(() => new EvalRunner(TestSupport.TinyModel(), new EvalOptions { Shots = [13] }).Run([Arithmetic(12)]));
        Assert.Contains("13 demonstrations asked for but split 'train' offers only 12", e.Message);
    }

    [Fact]
    public void ContaminatedExamplesAreCountedAndTheCleanSubsetReported()
    {
        var task = Arithmetic();
        // The data pipeline's index over "training data" holding one planted example; 5-grams, as these examples are short.
        var training = ContaminationIndex.Build(["some text\n" + task.Eval[1].Demonstration("") + "\nmore text\n"], n: 5);
        var report = new EvalRunner(TestSupport.TinyModel(), new EvalOptions
        {
            Shots = [0], Limit = 4, Contamination = new PreparedDataChecker(training),
        }).Run([task]);
        var iid = Assert.Single(report.Contamination, c => c.Split == "iid");
        Assert.True(iid.Contaminated >= 1); // the planted one (and any exact duplicate of it)
        Assert.True(report.Examples.Single(x => x.Split == "iid" && x.Index == 1).Contaminated);
        var clean = Assert.Single(report.Results, r => r.Split == "iid" && r.Subset == "clean" && r.Metric == "acc");
        Assert.Equal(4 - iid.Contaminated, clean.N);
    }

    [Fact]
    public void FineTuningReportsAFineTunedRowNextToInContextLearningAndLeavesTheModelUnchanged()
    {
        var lm = TestSupport.TinyModel();
        var before = lm.Score([("Q: What is 1 plus 1? A:", " 2")])[0].LogProb;
        var report = new EvalRunner(lm, new EvalOptions { Shots = [0, 2], Limit = 3, FineTune = new FineTuner.Settings(Steps: 2, LearningRate: 1e-3) })
            .Run([Arithmetic()]);
        Assert.Contains(report.Results, r => r.Mode == "finetune" && r.Shots == 2 && r.Split == "iid" && r.Metric == "acc");
        Assert.Contains(report.Results, r => r.Mode == "icl" && r.Shots == 2 && r.Metric == "acc");
        var fresh = TestSupport.TinyModel();
        Assert.Equal(fresh.Score([("Q: What is 1 plus 1? A:", " 2")])[0].LogProb, before, 1e-6);
        Assert.Equal(fresh.Hash, lm.Hash);
    }

    [Fact]
    public void FineTuningLowersTheLossOnTheDemonstrations()
    {
        var lm = TestSupport.TinyModel();
        var demos = new[] { "Q: What is 1 plus 1? A: 2", "Q: What is 2 plus 2? A: 4" };
        var (one, lossAfterOne) = FineTuner.Tune(lm.Model, lm.Tokenizer, demos, new FineTuner.Settings(Steps: 1, LearningRate: 3e-3));
        var (many, lossAfterMany) = FineTuner.Tune(lm.Model, lm.Tokenizer, demos, new FineTuner.Settings(Steps: 10, LearningRate: 3e-3));
        one.Dispose();
        many.Dispose();
        Assert.True(lossAfterMany < lossAfterOne - 0.1, $"{lossAfterOne} -> {lossAfterMany}");
    }

    [Fact]
    public void TheBagOfWordsBaselineLearnsSeenAnswersButNotUnseenOnes()
    {
        var classifier = new BagOfWordsClassifier([("red apple fruit", "A"), ("green apple fruit", "A"), ("blue sky cloud", "B"), ("grey sky rain", "B")]);
        Assert.Equal("A", classifier.Predict("an apple"));
        Assert.Equal("B", classifier.Predict("cloud in the sky"));
        Assert.Equal("B", classifier.Predict("sky", [" C", " B"]));
        Assert.Equal("C", classifier.Predict("sky", [" C", " D"])); // no centroid for either: it cannot know
    }
}

public class RollingTests
{
    [Fact]
    public void PerplexityTasksReportBitsPerByteAndPerplexityFromJsonlText()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("docs.jsonl"), "{\"text\": \"First document.\"}\n{\"text\": \"A second, somewhat longer document.\"}\n");
        File.WriteAllText(folder.File("ppl.json"), """
            {"name": "ppl", "splits": {"test": {"jsonl": "docs.jsonl"}}, "query_template": "{text}", "output_type": "loglikelihood_rolling"}
            """);
        var task = EvalTask.Load(TaskConfig.Load(folder.File("ppl.json")));
        var report = new EvalRunner(TestSupport.TinyModel(), new EvalOptions { Shots = [0, 5] }).Run([task]);
        var bpb = Assert.Single(report.Results, r => r.Metric == "bits_per_byte");
        var ppl = Assert.Single(report.Results, r => r.Metric == "perplexity");
        Assert.InRange(bpb.Value, 6, 10); // random over 257 byte symbols: about log2(257) = 8 bits per byte
        Assert.InRange(ppl.Value, 100, 600);
        Assert.Equal(2, bpb.N);
        Assert.True(bpb.StdErr > 0);
    }
}
