using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FewShot.Model;
using FewShot.Model.Storage;
using FewShot.Model.Tokenization;
using static TorchSharp.torch;

namespace FewShot.Gateway.Tests;

/// <summary>
/// A real `fewshot serve --open` in its own process on a loopback port, serving a tiny random byte model: the upstream
/// model server the gateway fronts, as vLLM or llama-server would be.
/// </summary>
public sealed class UpstreamProcess : IAsyncDisposable
{
    public const string ModelName = "upstream-bytes";
    readonly Process process;
    readonly TempFolder folder;

    public Uri BaseUrl { get; }
    public Uri ApiUrl => new(BaseUrl, "v1");

    UpstreamProcess(Process process, TempFolder folder, Uri baseUrl)
    {
        this.process = process;
        this.folder = folder;
        BaseUrl = baseUrl;
    }

    public static async Task<UpstreamProcess> StartAsync()
    {
        var folder = new TempFolder();
        var model = Path.Combine(folder.Path, ModelName);
        manual_seed(4321);
        using (var gpt = new Gpt(new GptConfig { VocabSize = 257, ContextLength = 512, Layers = 2, Heads = 2, Embedding = 64 }))
            ModelFolder.Save(gpt, new ByteTokenizer(), model);
        return await ServeAsync(folder, "--model", model, "--max-sequences", "16", "--max-queue", "256");
    }

    /// <summary>`fewshot serve --open` with these arguments on a free loopback port, once /healthz answers 200.</summary>
    public static Task<UpstreamProcess> ServeAsync(TempFolder folder, params string[] args) => ServeAsync(folder, null, ["--open", .. args]);

    /// <summary>`fewshot serve` with these arguments and FEWSHOT_* settings (e.g. "Access:Store") on a free loopback port, once /healthz answers 200.</summary>
    public static async Task<UpstreamProcess> ServeAsync(TempFolder folder, IReadOnlyDictionary<string, string>? settings, string[] args)
    {
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "fewshot.dll"), "serve", "--threads", "1", "--urls", $"http://127.0.0.1:{port}" }
                     .Concat(args))
            start.ArgumentList.Add(arg);
        foreach (var (name, value) in settings ?? new Dictionary<string, string>()) start.Environment["FEWSHOT_" + name.Replace(":", "__")] = value;
        var process = Process.Start(start)!;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null && errors.Count < 50) errors.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var upstream = new UpstreamProcess(process, folder, new Uri($"http://127.0.0.1:{port}/"));
        using var http = new HttpClient { BaseAddress = upstream.BaseUrl, Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 240; i++) // 60 s
        {
            if (process.HasExited) throw new InvalidOperationException($"fewshot serve exited with {process.ExitCode}: {string.Join('\n', errors)}");
            try
            {
                if ((await http.GetAsync("healthz")).StatusCode == HttpStatusCode.OK) return upstream;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(250);
        }
        await upstream.DisposeAsync();
        throw new TimeoutException("fewshot serve did not become healthy in 60 s");
    }

    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    /// <summary>kill -9: the process dies at once, with whatever it had in flight.</summary>
    public async Task KillAsync()
    {
        process.Kill();
        await process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
        folder.Dispose();
    }
}
