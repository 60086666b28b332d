using System.Diagnostics;
using FewShot.Model.Generation;
using FewShot.Model.Storage;
using FewShot.Serving.Chat;
using FewShot.Serving.Engine;
using Microsoft.Extensions.AI;

namespace FewShot.Serving.Tests;

/// <summary>Continuous batching gives each sequence exactly what it would get alone, and frees rows promptly.</summary>
[Collection(ServerCollection.Name)]
public sealed class BatchSchedulerTests(ServerFixture fixture)
{
    TestServer Server => fixture.Server;

    [Fact]
    public async Task SequencesJoiningAtDifferentTimesMatchGreedyDecodingAlone()
    {
        var served = Server.Get<ServedModel>();
        var scheduler = Server.Get<BatchScheduler>();
        string[] prompts = ["The king", "A much longer prompt about the sea and the ships", "x", "Once upon a time, in a land far away"];
        int[] lengths = [30, 12, 25, 18];

        // Reference: each prompt decoded alone by the foundation's generator, on a copy of the model (the scheduler owns the served one).
        using var reference = ModelFolder.Load(TinyModel.Folder);
        var generator = new TextGenerator(reference.Model, reference.Tokenizer);
        var expected = prompts.Select((p, i) => generator.Generate([p], new SamplingOptions { Temperature = 0, MaxNewTokens = lengths[i], StopAtEndOfText = false })[0]).ToArray();

        // Staggered arrivals: later sequences join while earlier ones are mid-generation.
        var jobs = new List<GenerationJob>();
        for (var i = 0; i < prompts.Length; i++)
        {
            var job = new GenerationJob(served.Tokenizer.Encode(prompts[i]), new SamplingOptions { Temperature = 0, MaxNewTokens = lengths[i], StopAtEndOfText = false }, default);
            scheduler.Submit(job);
            jobs.Add(job);
            await Task.Delay(15);
        }
        var results = await Task.WhenAll(jobs.Select(j => j.Result));
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(expected[i].Ids.Length, results[i].CompletionTokens);
            Assert.Equal(expected[i].Text, results[i].Text);
        }
    }

    [Fact]
    public async Task CancelledSequenceLeavesTheBatchWithinOneStep()
    {
        var served = Server.Get<ServedModel>();
        var scheduler = Server.Get<BatchScheduler>();
        using var cancel = new CancellationTokenSource();
        var job = new GenerationJob(served.Tokenizer.Encode("Hello"), new SamplingOptions { Temperature = 1, MaxNewTokens = 900, StopAtEndOfText = false }, cancel.Token);
        var before = scheduler.RecentCancellations.Count;
        scheduler.Submit(job);
        await job.Chunks.WaitToReadAsync();
        await cancel.CancelAsync();
        var result = await job.Result.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.True(result.CompletionTokens < 900);
        var record = scheduler.RecentCancellations.Skip(before).Single();
        Assert.InRange(record.Steps, 0, 1);
    }

    [Fact]
    public async Task MemoryStaysFlatOver1000Requests()
    {
        var client = Server.Get<FewShotChatClient>();
        var options = new ChatOptions { MaxOutputTokens = 3, Temperature = 1 };
        async Task Run(int count)
        {
            // 8 at a time so that they batch; each is a full chat request through the in-process client.
            for (var i = 0; i < count; i += 8)
                await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], options)));
        }
        await Run(200); // warm up: JIT, allocator pools
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        var start = Process.GetCurrentProcess().WorkingSet64;
        await Run(1000);
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        var growth = Process.GetCurrentProcess().WorkingSet64 - start;
        Assert.True(growth < 40L << 20, $"working set grew by {growth >> 20} MiB over 1000 requests");
    }
}
