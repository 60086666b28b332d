using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using FewShot.Serving.Chat;
using FewShot.Serving.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FewShot.Cli.Tests;

/// <summary>A model trained on dialogue text, served: its replies end where it starts the next turn, in every mode.</summary>
public sealed class ChatTurnTests : IDisposable
{
    readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public async Task RepliesOfAModelTrainedOnDialoguesNeverCarryATurnMarkerInAnyMode()
    {
        // Dialogues in the built-in corpus's layout ("User: ...\nAssistant: ..."), pairs of 40 short Shakespeare lines:
        // regular enough that a small model learns the turn markers exactly within a minute.
        var lines = File.ReadAllLines(TestEnvironment.Shakespeare).Where(l => l.Length is > 12 and < 32 && !l.TrimEnd().EndsWith(':')).Take(40).ToList();
        var random = new Random(7);
        var dialogues = new StringBuilder();
        while (dialogues.Length < 200_000)
            dialogues.Append("User: ").Append(lines[random.Next(lines.Count)]).Append("\nAssistant: ").Append(lines[random.Next(lines.Count)]).Append("\n\n");
        File.WriteAllText(temp.File("dialogues.txt"), dialogues.ToString());
        var run = temp.File("run");
        var trained = Cli.Run("train", "--text", temp.File("dialogues.txt"), "--out", run, "--tokenizer", "bytes", "--layers", "2", "--heads", "2",
            "--embd", "64", "--ctx", "512", "--batch", "4", "--iters", "500", "--lr", "3e-3", "--eval-interval", "500", "--eval-batches", "1", "--sample-tokens", "0");
        Assert.True(trained.ExitCode == 0, trained.ToString());

        await using var app = ServingHost.Build(new Dictionary<string, string?> { ["Serving:Model"] = Path.Combine(run, "model"), ["Serving:Threads"] = "1" },
            urls: ["http://127.0.0.1:0"], customize: b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(2) };

        var modes = app.Services.GetRequiredService<ChatModes>().All;
        Assert.Equal(["article", "chat", "code", "encyclopedia"], modes.Select(m => m.Id).Order());
        var replies = 0;
        foreach (var mode in modes)
            for (var seed = 0; seed < 4; seed++)
            {
                var response = await http.PostAsJsonAsync("v1/chat/completions", new JsonObject
                {
                    ["model"] = "model",
                    ["mode"] = mode.Id,
                    ["messages"] = new JsonArray(
                        new JsonObject { ["role"] = "system", ["content"] = "Reply briefly." },
                        new JsonObject { ["role"] = "user", ["content"] = lines[seed] }),
                    ["max_tokens"] = 64,
                    ["temperature"] = 1.0,
                    ["seed"] = seed,
                });
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.IsSuccessStatusCode, $"{mode.Id}: {body}");
                var reply = JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
                foreach (var marker in new[] { mode.UserMarker, mode.AssistantMarker }.Concat(ChatMode.CommonMarkers))
                {
                    Assert.DoesNotContain($"\n{marker}:", "\n" + reply);
                    if (marker.Length >= 4) Assert.DoesNotContain($"{marker}:", reply);
                }
                replies++;
            }
        Assert.Equal(16, replies);
    }
}
