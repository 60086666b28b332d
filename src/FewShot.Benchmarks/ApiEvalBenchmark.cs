using System.Diagnostics;
using FewShot.Evaluation.Api;
using FewShot.Evaluation.Scoring;
using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;
using FewShot.Serving.Hosting;
using Microsoft.Extensions.Logging;

namespace FewShot.Benchmarks;

/// <summary>
/// Multiple-choice scoring through the API against in-process scoring, in one run on one model: `fewshot serve`'s
/// server on a loopback port (same process, same libtorch threads) answers echo + logprobs + max_tokens 0 for the
/// harness's <see cref="ApiScorer"/>, and <see cref="GptScorer"/> scores the same questions with the shared-context KV
/// cache. Rounds alternate the two, so a busy machine slows both alike; each rate is the median over rounds.
/// </summary>
public static class ApiEvalBenchmark
{
    public sealed record Settings(int Questions = 32, int Rounds = 3, int Threads = 1, int Concurrency = 4, int PromptsPerRequest = 32,
        int Layers = 2, int Heads = 6, int Embedding = 384, int ContextLength = 512, int ContextTokens = 480, int Choices = 4, int ChoiceTokens = 3);

    public sealed record Result(Settings Settings, long Parameters, double InProcessQuestionsPerSecond, double ApiQuestionsPerSecond, double Ratio,
        double MaxAbsDifference, int Retries);

    public static async Task<Result> RunAsync(Settings settings, Action<string> log, CancellationToken cancel)
    {
        var threads = TorchSharp.torch.get_num_threads();
        var folder = Directory.CreateTempSubdirectory("fewshot-bench-api-").FullName;
        try
        {
            TorchSharp.torch.manual_seed(7);
            using var model = new Gpt(new GptConfig
            {
                VocabSize = 257, ContextLength = settings.ContextLength, Layers = settings.Layers, Heads = settings.Heads, Embedding = settings.Embedding,
            });
            var modelFolder = Path.Combine(folder, "bench-model");
            ModelFolder.Save(model, new ByteTokenizer(), modelFolder);
            var random = new Random(7);
            var questions = Enumerable.Range(0, settings.Questions).Select(_ => (
                Context: Enumerable.Range(0, settings.ContextTokens).Select(_ => random.Next(256)).ToArray(),
                Choices: Enumerable.Range(0, settings.Choices).Select(_ => Enumerable.Range(0, settings.ChoiceTokens).Select(_ => random.Next(256)).ToArray()).ToArray()))
                .ToArray();

            await using var server = ServingHost.Build(new Dictionary<string, string?>
            {
                ["Serving:Model"] = modelFolder, ["Serving:Threads"] = settings.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }, urls: ["http://127.0.0.1:0"], customize: b => b.Logging.SetMinimumLevel(LogLevel.Warning));
            await server.StartAsync(cancel);
            using var client = new ApiClient(new ApiEndpoint(new Uri(server.Address(), "v1"), "bench-model"), settings.Concurrency);
            var api = new ApiScorer(client, new ByteTokenizer(), settings.ContextLength, promptsPerRequest: settings.PromptsPerRequest);
            var local = new GptScorer(model, new ByteTokenizer());
            TorchSharp.torch.set_num_threads(settings.Threads);

            // Warm-up (JIT, allocator, connections), then alternate.
            local.ScoreChoiceIds(questions[..2]);
            api.ScoreChoiceIds(questions[..2]);
            var localRates = new List<double>();
            var apiRates = new List<double>();
            LogLikelihood[][] localScores = [], apiScores = [];
            for (var round = 0; round < settings.Rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                localScores = await Task.Run(() => local.ScoreChoiceIds(questions), cancel);
                localRates.Add(questions.Length / clock.Elapsed.TotalSeconds);
                clock.Restart();
                apiScores = await Task.Run(() => api.ScoreChoiceIds(questions), cancel);
                apiRates.Add(questions.Length / clock.Elapsed.TotalSeconds);
                log($"round {round + 1}: in-process {localRates[^1]:F1} questions/s, API {apiRates[^1]:F1} questions/s");
            }
            var difference = localScores.Zip(apiScores).SelectMany(p => p.First.Zip(p.Second, (a, b) => Math.Abs(a.LogProb - b.LogProb))).Max();
            var inProcess = Statistics.Median(localRates);
            var throughApi = Statistics.Median(apiRates);
            await server.StopAsync(cancel);
            return new Result(settings, model.parameters().Sum(p => p.numel()), inProcess, throughApi, throughApi / inProcess, difference, client.Retries);
        }
        finally
        {
            TorchSharp.torch.set_num_threads(threads);
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
