using System.Text.Json;
using FewShot.Evaluation.Scoring;
using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;
using FewShot.Serving.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Logging;

namespace FewShot.Cli.Tests;

/// <summary>
/// Self-consistency: a model evaluated through `fewshot serve`'s API (echo + logprobs + max_tokens 0 for scores,
/// completions for generation) gets the same numbers as the same model evaluated in-process, on a loglikelihood, a
/// multiple-choice, a generation and a perplexity task, for the GPT-2 parity fixture and a small byte model.
/// </summary>
public sealed class ApiEvalTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    // 100 characters, so that with end-of-text the character vocabulary is the fixture's 101 ids.
    const string Alphabet = "\t\n !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~éüß";

    string ParityFixtureFolder()
    {
        using var loaded = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"));
        var folder = Path.Combine(temp.Path, "gpt2-tiny");
        ModelFolder.Save(loaded.Model, new CharTokenizer(Alphabet), folder);
        return folder;
    }

    string ByteModelFolder()
    {
        TorchSharp.torch.manual_seed(11);
        using var model = new Gpt(new GptConfig { VocabSize = 257, ContextLength = 256, Layers = 2, Heads = 2, Embedding = 48 });
        var folder = Path.Combine(temp.Path, "bytes-small");
        ModelFolder.Save(model, new ByteTokenizer(), folder);
        return folder;
    }

    // One task of each kind, small enough to run in seconds: arithmetic (loglikelihood), a three-way choice, a copy task
    // (generation), and documents (perplexity).
    string Tasks()
    {
        File.WriteAllLines(temp.File("choices.jsonl"), Enumerable.Range(0, 6).Select(i =>
            JsonSerializer.Serialize(new { question = $"Which is {(i % 2 == 0 ? "even" : "odd")}? {i}", choices = new[] { "one", "two", "three" }, answer = i % 3 })));
        File.WriteAllLines(temp.File("copy.jsonl"), Enumerable.Range(0, 6).Select(i =>
            JsonSerializer.Serialize(new { context = $"copy: ab{i}c", completion = $" ab{i}c" })));
        File.WriteAllLines(temp.File("docs.jsonl"), Enumerable.Range(0, 4).Select(i =>
            JsonSerializer.Serialize(new { text = string.Concat(Enumerable.Repeat($"line {i} of a doc. ", 1 + i % 3)) })));
        File.WriteAllText(temp.File("ll.json"), """
            {"name": "2D+", "splits": {"train": {"generator": "2D+", "seed": 1, "count": 20}, "test": {"generator": "2D+", "seed": 2, "count": 6}},
             "query_template": "{context}", "answer_template": "{completion}", "answer_delimiter": "", "example_separator": "\n", "output_type": "loglikelihood"}
            """);
        File.WriteAllText(temp.File("mc.json"), """
            {"name": "mc", "splits": {"test": {"jsonl": "choices.jsonl"}}, "query_template": "{question}\nAnswer:", "answer_template": "{answer}",
             "answer_delimiter": " ", "example_separator": "\n", "output_type": "multiple_choice"}
            """);
        File.WriteAllText(temp.File("gen.json"), """
            {"name": "copy", "splits": {"test": {"jsonl": "copy.jsonl"}}, "query_template": "{context}", "answer_template": "{completion}",
             "answer_delimiter": "", "example_separator": "\n", "output_type": "generate_until", "max_new_tokens": 6, "stop": ["\n", "c"]}
            """);
        File.WriteAllText(temp.File("ppl.json"), """
            {"name": "docs", "splits": {"test": {"jsonl": "docs.jsonl"}}, "query_template": "{text}", "answer_template": "",
             "output_type": "loglikelihood_rolling"}
            """);
        return string.Join(',', new[] { "ll.json", "mc.json", "gen.json", "ppl.json" }.Select(temp.File));
    }

    static async Task<(IAsyncDisposable Server, string BaseUrl)> Serve(string folder)
    {
        var app = ServingHost.Build(new Dictionary<string, string?> { ["Serving:Model"] = folder, ["Serving:Threads"] = "1" },
            urls: ["http://127.0.0.1:0"], customize: b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        return (app, app.Address() + "v1");
    }

    [Fact]
    public Task TheParityFixtureThroughTheApiScoresAsInProcess() => AssertSameThroughTheApi(ParityFixtureFolder(), "0,1");

    // As vLLM must be asked (it refuses max_tokens 0): one token generated after each echoed prompt, and ignored.
    [Fact]
    public Task ASmallByteModelThroughTheApiScoresAsInProcess() => AssertSameThroughTheApi(ByteModelFolder(), "0,2", "--api-score-max-tokens", "1");

    async Task AssertSameThroughTheApi(string folder, string shots, params string[] extra)
    {
        var tasks = Tasks();
        var local = Path.Combine(temp.Path, "local");
        var remote = Path.Combine(temp.Path, "remote");
        var inProcess = Cli.Run("eval", "--model", folder, "--tasks", tasks, "--shots", shots, "--out", local, "--json");
        Assert.True(inProcess.ExitCode == 0, inProcess.ToString());

        var (server, baseUrl) = await Serve(folder);
        await using var _ = server;
        Environment.SetEnvironmentVariable("FEWSHOT_TEST_API_KEY", "sk-test-secret-that-must-not-leak");
        var name = Path.GetFileName(folder);
        var api = await Task.Run(() => Cli.Run(["eval", "--api", baseUrl, "--api-model", name, "--api-key-env", "FEWSHOT_TEST_API_KEY",
            "--tokenizer", folder, "--tasks", tasks, "--shots", shots, "--out", remote, "--json", "--api-batch", "5", .. extra]));
        Assert.True(api.ExitCode == 0, api.ToString());

        var expected = Rows(local);
        var got = Rows(remote);
        Assert.Equal(expected.Keys.Order(), got.Keys.Order());
        Assert.Equal(4, expected.Keys.Select(k => k.Split('|')[0]).Distinct().Count());
        foreach (var (key, value) in expected)
            Assert.True(Math.Abs(value - got[key]) <= 1e-4 || double.IsNaN(value) && double.IsNaN(got[key]), $"{key}: in-process {value}, API {got[key]}");

        // Per example too: the same scores, and the generation task's same predictions.
        var localExamples = File.ReadAllLines(Path.Combine(local, "examples.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        var remoteExamples = File.ReadAllLines(Path.Combine(remote, "examples.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(localExamples.Length, remoteExamples.Length);
        for (var i = 0; i < localExamples.Length; i++)
        {
            Assert.Equal(localExamples[i].GetProperty("score").GetDouble(), remoteExamples[i].GetProperty("score").GetDouble(), 1e-4);
            if (localExamples[i].GetProperty("task").GetString() is "copy" or "mc")
                Assert.Equal(localExamples[i].GetProperty("prediction").GetString(), remoteExamples[i].GetProperty("prediction").GetString());
        }

        // The model is recorded as the API's model name and base URL; the key is nowhere.
        var model = JsonDocument.Parse(File.ReadAllText(Path.Combine(remote, "results.json"))).RootElement.GetProperty("model");
        Assert.Equal(name, model.GetProperty("name").GetString());
        Assert.Equal(baseUrl, model.GetProperty("base_url").GetString());
        foreach (var file in Directory.GetFiles(remote)) Assert.DoesNotContain("sk-test-secret", File.ReadAllText(file));
        Assert.DoesNotContain("sk-test-secret", api.Stdout + api.Stderr);

        // The plots draw from an API run's results as from any other.
        var plots = Cli.Run("eval", "plot", remote, "--out", Path.Combine(temp.Path, "plots"));
        Assert.True(plots.ExitCode == 0, plots.ToString());
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(temp.Path, "plots"), "*.png"));
    }

    // A real server on loopback that answers completions through `handle`.
    static async Task<(WebApplication App, string BaseUrl)> Fake(Func<HttpContext, Task> handle)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        app.MapPost("/v1/completions", handle);
        await app.StartAsync();
        return (app, app.Address() + "v1");
    }

    [Fact]
    public async Task AnApiWithoutPromptLogprobsIsOneLineNamingTheFieldAndGenerationStillWorks()
    {
        var folder = ByteModelFolder();
        var tasks = Tasks();
        // Like many chat-only endpoints: completions answer with text and no log-probabilities.
        var (app, baseUrl) = await Fake(http => http.Response.WriteAsJsonAsync(new
        {
            choices = Enumerable.Range(0, 64).Select(i => new { index = i, text = " ab", logprobs = (object?)null, finish_reason = "stop" }),
        }));
        await using var _ = app;
        var scoring = await Task.Run(() => Cli.Run("eval", "--api", baseUrl, "--api-model", "m", "--tokenizer", folder, "--tasks", temp.File("mc.json"),
            "--shots", "0", "--out", Path.Combine(temp.Path, "a"), "--api-context", "256"));
        Assert.Equal(2, scoring.ExitCode);
        var line = Assert.Single(scoring.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("token_logprobs", line);
        Assert.Contains("generation tasks (generate_until) still work", line);

        var generation = await Task.Run(() => Cli.Run("eval", "--api", baseUrl, "--api-model", "m", "--tokenizer", folder, "--tasks", temp.File("gen.json"),
            "--shots", "0", "--out", Path.Combine(temp.Path, "b"), "--api-context", "256", "--json"));
        Assert.True(generation.ExitCode == 0, generation.ToString());
    }

    [Fact]
    public async Task RateLimitsAndServerErrorsAreRetriedToTheSameResults()
    {
        var folder = ByteModelFolder();
        var tasks = Tasks();
        var (server, direct) = await Serve(folder);
        await using var _ = server;
        // Every other request fails first: 429 with Retry-After, or 503; the rest pass through to the real server.
        using var forward = new HttpClient();
        var count = 0;
        var (proxy, proxied) = await Fake(async http =>
        {
            var n = Interlocked.Increment(ref count);
            if (n % 2 == 1)
            {
                http.Response.StatusCode = n % 4 == 1 ? 429 : 503;
                http.Response.Headers.RetryAfter = "0";
                await http.Response.WriteAsJsonAsync(new { error = new { message = "slow down", type = "rate_limit" } });
                return;
            }
            var body = await new StreamReader(http.Request.Body).ReadToEndAsync();
            using var answer = await forward.PostAsync(direct + "/completions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            http.Response.StatusCode = (int)answer.StatusCode;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(await answer.Content.ReadAsStringAsync());
        });
        await using var __ = proxy;
        var name = Path.GetFileName(folder);
        string[] Args(string url, string output) => ["eval", "--api", url, "--api-model", name, "--tokenizer", folder, "--tasks", tasks, "--shots", "0",
            "--out", Path.Combine(temp.Path, output), "--api-context", "256", "--json"];
        var straight = await Task.Run(() => Cli.Run(Args(direct, "direct")));
        var retried = await Task.Run(() => Cli.Run(Args(proxied, "proxied")));
        Assert.True(straight.ExitCode == 0, straight.ToString());
        Assert.True(retried.ExitCode == 0, retried.ToString());
        Assert.True(count >= 8, $"{count} requests reached the proxy");
        var expected = Rows(Path.Combine(temp.Path, "direct"));
        var got = Rows(Path.Combine(temp.Path, "proxied"));
        foreach (var (key, value) in expected)
            Assert.True(Math.Abs(value - got[key]) <= 1e-9 || double.IsNaN(value) && double.IsNaN(got[key]), $"{key}: direct {value}, proxied {got[key]}");
    }

    [Fact]
    public async Task EchoedLogprobsOfTheParityFixtureEqualInProcessLogLikelihoods()
    {
        // The fixture as imported (its ids-only vocabulary): token-id prompts, one and many per request.
        var folder = Path.Combine(temp.Path, "gpt2-tiny-ids");
        using (var imported = HuggingFaceGpt2.Import(TestPaths.Fixture("gpt2-tiny"))) ModelFolder.Save(imported.Model, imported.Tokenizer, folder);
        using var loaded = ModelFolder.Load(folder);
        var scorer = new GptScorer(loaded.Model, loaded.Tokenizer);
        var random = new Random(5);
        var rows = Enumerable.Range(0, 9).Select(i => (Context: Enumerable.Range(0, 5 + 5 * i).Select(_ => random.Next(101)).ToArray(),
            Continuation: Enumerable.Range(0, 1 + i % 4).Select(_ => random.Next(101)).ToArray())).ToArray();
        rows[3].Context = rows[2].Context; // two rows share their context, as a question's choices do
        var expected = scorer.ScoreIds(rows);

        var (server, baseUrl) = await Serve(folder);
        await using var _ = server;
        using var http = new HttpClient();
        async Task<double[]> Echo(IEnumerable<(int[] Context, int[] Continuation)> prompts, bool asList)
        {
            var chosen = prompts.ToArray();
            object prompt = asList ? chosen.Select(r => r.Context.Concat(r.Continuation).ToArray()).ToArray() : chosen[0].Context.Concat(chosen[0].Continuation).ToArray();
            var body = JsonSerializer.Serialize(new { model = "gpt2-tiny-ids", prompt, echo = true, logprobs = 2, max_tokens = 0 });
            using var response = await http.PostAsync(baseUrl + "/completions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.True(response.IsSuccessStatusCode, json.ToString());
            return [.. json.GetProperty("choices").EnumerateArray().Select((c, i) =>
            {
                var logprobs = c.GetProperty("logprobs").GetProperty("token_logprobs").EnumerateArray().ToArray();
                Assert.Equal(JsonValueKind.Null, logprobs[0].ValueKind);
                return logprobs[^chosen[i].Continuation.Length..].Sum(l => l.GetDouble());
            })];
        }
        var single = await Echo([rows[0]], asList: false);
        Assert.Equal(expected[0].LogProb, single[0], 1e-5);
        var batched = await Echo(rows, asList: true);
        for (var i = 0; i < rows.Length; i++) Assert.Equal(expected[i].LogProb, batched[i], 1e-5);
    }

    [Theory]
    [InlineData("--api-model", "--api http://127.0.0.1:9/v1 --tokenizer bytes --tasks 2D+")]
    [InlineData("--tokenizer", "--api http://127.0.0.1:9/v1 --api-model m --tasks 2D+")]
    [InlineData("not an http(s) URL", "--api ftp://host/v1 --api-model m --tokenizer bytes --tasks 2D+")]
    [InlineData("either --model", "--api http://127.0.0.1:9/v1 --model some/folder --api-model m --tokenizer bytes --tasks 2D+")]
    [InlineData("either --model", "--tasks 2D+")]
    [InlineData("--finetune", "--api http://127.0.0.1:9/v1 --api-model m --tokenizer bytes --tasks 2D+ --finetune")]
    [InlineData("--decoding greedy", "--api http://127.0.0.1:9/v1 --api-model m --tokenizer bytes --tasks dotnet-types-qa")]
    [InlineData("--api-score-max-tokens", "--api http://127.0.0.1:9/v1 --api-model m --tokenizer bytes --tasks 2D+ --api-score-max-tokens 2")]
    public void BadApiOptionsAreOneLineNamingTheOptionBeforeAnyRequest(string named, string arguments)
    {
        var result = Cli.Run(["eval", .. arguments.Split(' '), "--out", temp.Path]);
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(named, line);
    }

    [Fact]
    public void BenchEvalApiComparesScoringThroughTheServerWithInProcessScoring()
    {
        var result = Cli.Run("bench", "eval", "--api", "--questions", "4", "--json");
        Assert.True(result.ExitCode == 0, result.ToString());
        var json = result.Json;
        Assert.True(json.GetProperty("in_process_questions_per_second").GetDouble() > 0);
        Assert.True(json.GetProperty("api_questions_per_second").GetDouble() > 0);
        Assert.True(json.GetProperty("ratio").GetDouble() > 0);
        Assert.InRange(json.GetProperty("max_abs_difference").GetDouble(), 0, 1e-4); // the same scores both ways
        Assert.Equal(4, json.GetProperty("settings").GetProperty("questions").GetInt32());
    }

    // task|mode|shots|split|subset|metric -> value
    static Dictionary<string, double> Rows(string folder)
    {
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "results.json"))).RootElement.GetProperty("results");
        return results.EnumerateArray().ToDictionary(
            r => string.Join('|', r.GetProperty("task").GetString(), r.GetProperty("mode").GetString(), r.GetProperty("shots").GetInt32(),
                r.GetProperty("description").GetBoolean(), r.GetProperty("split").GetString(), r.GetProperty("subset").GetString(), r.GetProperty("metric").GetString()),
            r => r.GetProperty("value").ValueKind == JsonValueKind.Number ? r.GetProperty("value").GetDouble() : double.NaN);
    }
}
