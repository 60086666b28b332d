using System.Diagnostics;

namespace FewShot.Gateway.Tests;

/// <summary>Upstream settings a user gets wrong: `fewshot serve` says so in one line naming the setting and exits 2.</summary>
public sealed class BadInputTests
{
    static Task<(int Exit, string Stderr)> ServeAsync(params string[] args) => RunServeAsync(["--open", .. args]);

    /// <summary>`fewshot serve` with these arguments to its exit (it is expected to refuse them).</summary>
    internal static async Task<(int Exit, string Stderr)> RunServeAsync(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "fewshot.dll"), "serve", "--urls", $"http://127.0.0.1:{UpstreamProcess.FreePort()}" }
                     .Concat(args))
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("fewshot serve did not exit on bad settings");
        }
        return (process.ExitCode, (await stderr).Trim());
    }

    internal static void OneLineNaming((int Exit, string Stderr) result, string name)
    {
        Assert.Equal(2, result.Exit);
        Assert.Contains(name, result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.Contains(name, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AMalformedUpstreamUrlIsOneLineNamingItAndExit2()
    {
        using var folder = new TempFolder();
        OneLineNaming(await ServeAsync("--model", folder.Path, "--upstream", "vllm=not-a-url"), "--upstream");
    }

    [Fact]
    public async Task NeitherAModelNorAnUpstreamIsOneLineNamingModelAndExit2() =>
        OneLineNaming(await ServeAsync(), "Serving:Model (--model)");

    [Fact]
    public async Task AnUnknownUpstreamSettingIsOneLineNamingItAndExit2()
    {
        using var folder = new TempFolder();
        var settings = folder.File("settings.json");
        File.WriteAllText(settings, """{"Serving": {"Upstreams": {"vllm": {"BaseUrl": "http://127.0.0.1:1/v1", "MaxConcurency": 4}}}}""");
        OneLineNaming(await ServeAsync("--model", folder.Path, "--config", settings), "Serving:Upstreams:vllm:MaxConcurency");
    }

    [Fact]
    public async Task AnUpstreamUrlWithCredentialsInTheSettingsFileIsRefused()
    {
        using var folder = new TempFolder();
        var settings = folder.File("settings.json");
        File.WriteAllText(settings, """{"Serving": {"Upstreams": {"openai": {"BaseUrl": "https://user:sk-123@example.invalid/v1"}}}}""");
        var result = await ServeAsync("--model", folder.Path, "--config", settings);
        OneLineNaming(result, "Serving:Upstreams:openai:BaseUrl");
        Assert.DoesNotContain("sk-123", result.Stderr);
    }

    [Fact]
    public async Task AMissingKeyVariableIsOneLineNamingIt()
    {
        using var folder = new TempFolder();
        var settings = folder.File("settings.json");
        File.WriteAllText(settings, """{"Serving": {"Upstreams": {"openai": {"BaseUrl": "https://example.invalid/v1", "ApiKeyEnv": "FEWSHOT_TEST_UNSET_KEY_VARIABLE"}}}}""");
        OneLineNaming(await ServeAsync("--model", folder.Path, "--config", settings), "FEWSHOT_TEST_UNSET_KEY_VARIABLE");
    }
}
