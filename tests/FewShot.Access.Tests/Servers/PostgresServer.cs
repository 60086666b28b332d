using System.Diagnostics;
using Npgsql;

namespace FewShot.Access.Tests.Servers;

/// <summary>
/// A private PostgreSQL for one test class: initdb in a temporary folder, started on a free loopback port (no system-wide
/// server is used or needed; `./test` installs Debian's postgresql package when it is missing), stopped and deleted after.
/// PostgreSQL refuses to run as root, so as root it runs as the postgres user in a folder that user owns.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("fewshot-pg-").FullName;
    public int Port { get; } = FreePort.Next();
    string Data => Path.Combine(Folder, "data");

    public async Task InitializeAsync()
    {
        if (Environment.UserName == "root") await Processes.RunAsync("chown", "-R", "postgres:postgres", Folder);
        await Postgres("initdb", "-D", Data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C");
        await StartAsync();
    }

    /// <summary>Starts the server (again, after <see cref="StopAsync"/>: same data, same port).</summary>
    public Task StartAsync() => Postgres("pg_ctl", "-D", Data, "-l", Path.Combine(Folder, "log"), "-w", "-t", "60", "-o",
        $"-p {Port} -k {Folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", "start");

    /// <summary>Stops the server at once, as a crash or a network cut would look to its clients.</summary>
    public Task StopAsync() => Postgres("pg_ctl", "-D", Data, "-m", "immediate", "-w", "stop");

    /// <summary>A new, empty database; its postgres:// URL as the operator would write it.</summary>
    public async Task<string> NewDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);  // a generated identifier, not input
        await command.ExecuteNonQueryAsync();
        return $"postgres://postgres@127.0.0.1:{Port}/{name}";
    }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=false";

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try { await StopAsync(); }
        finally { try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } }
    }

    /// <summary>Runs one of PostgreSQL's programs, as the postgres user when this process is root.</summary>
    static Task Postgres(string program, params string[] arguments)
    {
        var bin = Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
            .Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, program)))
            ?? throw new InvalidOperationException($"PostgreSQL's {program} is not installed (./test installs Debian's postgresql)");
        var path = Path.Combine(bin, program);
        return Environment.UserName == "root"
            ? Processes.RunAsync("runuser", ["-u", "postgres", "--", path, .. arguments])
            : Processes.RunAsync(path, arguments);
    }
}

/// <summary>Free loopback ports (the OS picks one; the tiny race with another program taking it is accepted).</summary>
public static class FreePort
{
    public static int Next()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>Runs a program to its end; a failure throws with what it printed.</summary>
public static class Processes
{
    public static async Task RunAsync(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {process.ExitCode}: {await output}{await error}");
    }
}
