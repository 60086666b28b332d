using System.Text.Json;
using FewShot.Cli.Commands;

namespace FewShot.Cli.Tests;

/// <summary>
/// fewshot demo end to end at a few steps: both sizes trained, both evaluated, the figures and results.json written,
/// and a second run reusing what the first finished.
/// </summary>
public sealed class DemoTests : IDisposable
{
    readonly TempFolder temp = new();
    readonly string? previousCache = Environment.GetEnvironmentVariable("FEWSHOT_CACHE");

    public DemoTests() =>
        // The built-in corpus is built once per machine into a shared temporary cache, as the data tests do.
        Environment.SetEnvironmentVariable("FEWSHOT_CACHE", Path.Combine(Path.GetTempPath(), "fewshot-test-cache"));

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("FEWSHOT_CACHE", previousCache);
        temp.Dispose();
    }

    [Fact]
    public void TheDemoTrainsTwoSizesEvaluatesBothAndWritesTheFiguresAndResultsThenResumes()
    {
        var root = Path.Combine(temp.Path, "demo");
        var first = Cli.Run("demo", "--out", root, "--no-serve", "--iters", "20", "--eval-limit", "6");
        Assert.True(first.ExitCode == 0, first.ToString());

        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "results.json")));
        var models = results.RootElement.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(DemoCommand.Models.Select(m => m.Name), models.Select(m => m.GetProperty("name").GetString()));
        Assert.True(models[0].GetProperty("parameters").GetInt64() < models[1].GetProperty("parameters").GetInt64());
        foreach (var model in models)
        {
            var tasks = model.GetProperty("tasks").EnumerateArray().ToList();
            Assert.Equal(DemoCommand.Tasks.Split(','), tasks.Select(t => t.GetProperty("task").GetString()));
            Assert.All(tasks, t => Assert.Equal(10, t.GetProperty("few_shot_k").GetInt32()));
            Assert.All(tasks, t => Assert.Equal(t.GetProperty("few_shot").GetDouble() - t.GetProperty("zero_shot").GetDouble(), t.GetProperty("gap").GetDouble(), 12));
            Assert.Equal(tasks.Count(t => t.GetProperty("shown").GetBoolean()), model.GetProperty("tasks_shown").GetInt32());
        }
        foreach (var figure in results.RootElement.GetProperty("figures").EnumerateObject())
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(figure.Value.GetString()!)[..4]);
        var stages = results.RootElement.GetProperty("stages").EnumerateArray().ToDictionary(s => s.GetProperty("stage").GetString()!, s => s.GetProperty("reused").GetBoolean());
        Assert.Equal(["prepare", "train small", "train large", "evaluate small", "evaluate large", "plot"], stages.Keys);
        Assert.DoesNotContain(true, stages.Values);
        Assert.Contains("whole demo", first.Tables);
        Assert.Contains("gap-vs-size.png", first.Status);

        // A second run reuses the data and both trained models, and answers the evaluation from its cache.
        var gaps = models.SelectMany(m => m.GetProperty("tasks").EnumerateArray()).Select(t => t.GetProperty("gap").GetDouble()).ToList();
        var second = Cli.Run("demo", "--out", root, "--no-serve", "--iters", "20", "--eval-limit", "6");
        Assert.True(second.ExitCode == 0, second.ToString());
        using var again = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "results.json")));
        var reused = again.RootElement.GetProperty("stages").EnumerateArray().Where(s => s.GetProperty("reused").GetBoolean()).Select(s => s.GetProperty("stage").GetString());
        Assert.Equal(["prepare", "train small", "train large"], reused);
        Assert.Equal(gaps, again.RootElement.GetProperty("models").EnumerateArray().SelectMany(m => m.GetProperty("tasks").EnumerateArray()).Select(t => t.GetProperty("gap").GetDouble()));
    }
}
