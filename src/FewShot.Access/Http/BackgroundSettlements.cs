using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FewShot.Access.Http;

/// <summary>Settlements that run behind their responses (<see cref="AccessGate"/>): failures are logged, and shutdown waits for them.</summary>
public sealed class BackgroundSettlements(ILogger? log = null)
{
    readonly ConcurrentDictionary<Task, bool> running = new();
    readonly ILogger log = log ?? NullLogger.Instance;

    /// <summary>Settlements started and not yet finished.</summary>
    public int Count => running.Count;

    public void Start(Task settlement)
    {
        if (settlement.IsCompleted)
        {
            Observe(settlement);
            return;
        }
        running[settlement] = true;
        settlement.ContinueWith(t =>
        {
            running.TryRemove(t, out _);
            Observe(t);
        }, TaskScheduler.Default);
    }

    void Observe(Task settlement)
    {
        if (settlement.Exception is { } e) log.LogError(e.InnerException ?? e, "A settlement failed; its lease expires and the request goes uncharged");
    }

    /// <summary>Waits until every settlement started so far has finished.</summary>
    public async Task DrainAsync()
    {
        while (!running.IsEmpty) await Task.WhenAll(running.Keys).ContinueWith(_ => { }, TaskScheduler.Default);
    }
}
