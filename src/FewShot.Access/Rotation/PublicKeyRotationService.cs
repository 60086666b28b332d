using FewShot.Access.Http;
using FewShot.Access.Keys;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FewShot.Access.Rotation;

/// <summary>
/// Rotates the public key inside the running server: at each period boundary it announces the new key (log, audit entry,
/// <see cref="Rotated"/> event) so the operator can publish it. Validity itself follows from the clock and the server
/// secret, so a server that was down at the boundary still accepts exactly the right keys when it comes back.
/// </summary>
public sealed class PublicKeyRotationService(AccessRuntime access, ILogger<PublicKeyRotationService> log) : BackgroundService
{
    /// <summary>Raised with the key now in force, at start and at every rotation.</summary>
    public event Action<PublicKeyInfo>? Rotated;

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        long? announced = null;
        while (!stop.IsCancellationRequested)
        {
            if (await access.Keys.CurrentPublicKeyAsync(stop) is not { } info) return;
            var index = info.Schedule.Index(info.ValidFrom);
            if (announced != index)
            {
                if (announced is not null) await access.Keys.AuditAsync("public_key_rotated", KeyRecord.PublicKeyId, "server", $"valid from {info.ValidFrom:O}", stop);
                log.LogInformation("Public key in force: {Key} (rotates at {RotatesAt:O}; the previous key works until {Grace:O})",
                    info.Key, info.RotatesAt, info.ValidFrom + info.Schedule.Grace);
                Rotated?.Invoke(info);
                announced = index;
            }
            // Wake at the boundary (or within a minute, so a clock change is noticed).
            var wait = info.RotatesAt - access.Options.Time.GetUtcNow();
            wait = wait < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : wait > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : wait;
            try { await Task.Delay(wait, access.Options.Time, stop); }
            catch (OperationCanceledException) { return; }
        }
    }
}
