using System.Diagnostics;
using System.Net.Sockets;

namespace FewShot.Access.Tests.Servers;

/// <summary>
/// A private Redis for one test class: Debian's redis-server (installed by `./test` when missing) on a free loopback port,
/// nothing saved to disk, in a temporary folder; stopped and deleted after. Tests may stop and start it again.
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("fewshot-redis-").FullName;
    public int Port { get; } = FreePort.Next();
    public string Url => $"redis://127.0.0.1:{Port}";
    /// <summary>More redis-server settings, e.g. ["--rename-command", "EVAL", ""] for a Redis without scripting.</summary>
    public string[] Settings { get; init; } = [];
    Process? process;

    public Task InitializeAsync() => StartAsync();

    public async Task StartAsync()
    {
        var info = new ProcessStartInfo("redis-server") { WorkingDirectory = Folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Folder }.Concat(Settings))
            info.ArgumentList.Add(a);
        process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start (./test installs Debian's redis-server)");
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(20) && !process.HasExited) { await Task.Delay(50); }
        }
    }

    public Task StartIfStoppedAsync() => process is null ? StartAsync() : Task.CompletedTask;

    public async Task StopAsync()
    {
        if (process is null) return;
        process.Kill();
        await process.WaitForExitAsync();
        process.Dispose();
        process = null;
    }

    public async Task DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
