using FewShot.Access.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FewShot.Access.Rotation;

/// <summary>
/// Runs before the server takes requests: records the public key's schedule and limits, and sets up the admin key. A new
/// admin key is handed once to <see cref="AccessOptions.OnAdminKeyCreated"/> (`fewshot serve` shows it on the console,
/// never in the log); a host that sets no callback gets it in one warning of the log, the only place left to show it.
/// </summary>
public sealed class AccessBootstrap(AccessRuntime access, ILogger<AccessBootstrap> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancel)
    {
        await access.Keys.ConfigurePublicKeyAsync(access.Options.PublicKey, cancel);
        var created = await access.Keys.EnsureAdminKeyAsync(access.Options.AdminKey, cancel);
        if (created is not null)
        {
            if (access.Options.OnAdminKeyCreated is { } show)
            {
                log.LogWarning("A new admin key was created; it is shown once, on the console. Store it now.");
                show(created);
            }
            else log.LogWarning("A new admin key was created (shown once, store it now): {AdminKey}", created);
        }
        log.LogInformation("Access control on: keys in {Database}", access.Options.DatabasePath);
    }

    /// <summary>Writes the last charges to the store before the server exits.</summary>
    public Task StopAsync(CancellationToken cancel) => access.Budgets.FlushAsync();
}
