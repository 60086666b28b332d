using FewShot.Access.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FewShot.Access.Rotation;

/// <summary>
/// Runs before the server takes requests: records the public key's schedule and limits, and sets up the admin key. A new
/// admin key is handed to <see cref="AccessOptions.OnAdminKeyCreated"/> (or written to stderr) once, never to the log.
/// </summary>
public sealed class AccessBootstrap(AccessRuntime access, ILogger<AccessBootstrap> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancel)
    {
        await access.Keys.ConfigurePublicKeyAsync(access.Options.PublicKey, cancel);
        var created = await access.Keys.EnsureAdminKeyAsync(access.Options.AdminKey, cancel);
        if (created is not null)
        {
            log.LogWarning("A new admin key was created; it is shown once, on the console. Store it now.");
            (access.Options.OnAdminKeyCreated ?? (k => Console.Error.WriteLine($"admin key (shown once, store it now): {k}")))(created);
        }
        log.LogInformation("Access control on: keys in {Database}", access.Options.DatabasePath);
    }

    /// <summary>Writes the last charges to the store before the server exits.</summary>
    public Task StopAsync(CancellationToken cancel) => access.Budgets.FlushAsync();
}
