using System.Diagnostics;

namespace FewShot.Serving.Tests;

/// <summary>
/// Runs browser/e2e.mjs (playwright-core + Debian's Chromium) against the real server: phone and desktop viewports
/// type, stream, stop, reload, rename/export/delete; safe Markdown; every API error explained; English and Chinese.
/// Needs `apt-get install -y chromium` and `npm ci` in tests/FewShot.Serving.Tests/browser (CI does both).
/// Screenshots go to a temporary folder, or to docs/images/ when FEWSHOT_UPDATE_SCREENSHOTS=1 (how the docs' pictures are made).
/// </summary>
public sealed class BrowserTests
{
    [Fact]
    public async Task ThePageWorksInARealBrowserAtPhoneAndDesktopSizes()
    {
        var repository = RepositoryRoot();
        var browserFolder = Path.Combine(repository, "tests", "FewShot.Serving.Tests", "browser");
        Assert.True(Directory.Exists(Path.Combine(browserFolder, "node_modules", "playwright-core")), $"run `npm ci` in {browserFolder} first");
        Assert.True(File.Exists("/usr/bin/chromium") || Environment.GetEnvironmentVariable("CHROMIUM") is not null, "install Chromium: apt-get install -y chromium");

        // A long greedy chat mode, so that there is time to press stop.
        var modes = Directory.CreateTempSubdirectory("fewshot-e2e-modes-").FullName;
        var chat = File.ReadAllText(Path.Combine(FewShot.Serving.Chat.ChatModes.ShippedFolder, "chat.json"))
            .Replace("\"max_tokens\": 150", "\"max_tokens\": 600").Replace("\"temperature\": 0.7", "\"temperature\": 0.0");
        File.WriteAllText(Path.Combine(modes, "chat.json"), chat);
        await using var server = await TestServer.StartAsync(new()
        {
            ["Serving:Model"] = TinyModel.BrowserFolder, ["Serving:ModesFolder"] = modes, ["Serving:Threads"] = "1",
            // The page is under test, and pressing stop mid-reply needs a reply that lasts seconds: the fused decoder
            // writes this model's 600 tokens before a loaded machine's browser gets to look; TorchSharp's does not.
            ["Serving:Weights"] = "torch",
        });

        var screenshots = Environment.GetEnvironmentVariable("FEWSHOT_UPDATE_SCREENSHOTS") == "1"
            ? Path.Combine(repository, "docs", "images")
            : Directory.CreateTempSubdirectory("fewshot-e2e-screenshots-").FullName;
        var start = new ProcessStartInfo("node", ["e2e.mjs", server.BaseUrl.ToString(), screenshots])
        {
            WorkingDirectory = browserFolder, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var node = Process.Start(start)!;
        var output = node.StandardOutput.ReadToEndAsync();
        var errors = node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(node.ExitCode == 0, $"browser checks failed (exit {node.ExitCode}):\n{await output}\n{await errors}");
        Assert.Contains("all browser checks passed", await output);
    }

    static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FewShot.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException("FewShot.slnx not found above " + AppContext.BaseDirectory);
    }
}
