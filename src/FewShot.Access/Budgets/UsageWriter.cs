using System.Threading.Channels;
using FewShot.Access.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FewShot.Access.Budgets;

/// <summary>
/// Writes usage rows to the store in batches on one background task. The budgets are enforced in memory, so the store only
/// has to catch up; a crash loses at most the rows of the last moments (the budget then errs towards the client).
/// </summary>
sealed class UsageWriter : IUsageSink
{
    readonly IAccessStore store;
    readonly ILogger log;
    readonly Channel<UsageRecord> queue = Channel.CreateUnbounded<UsageRecord>(new UnboundedChannelOptions { SingleReader = true });
    readonly Task loop;
    long enqueued, written;

    public UsageWriter(IAccessStore store, ILogger? log = null)
    {
        this.store = store;
        this.log = log ?? NullLogger.Instance;
        loop = Task.Run(RunAsync);
    }

    public bool StoreUnavailable => false;

    public void Release(string requestId) { }

    public Task WriteAsync(UsageRecord usage, bool held = false)
    {
        Enqueue(usage);
        return Task.CompletedTask;
    }

    public void Enqueue(UsageRecord usage)
    {
        Interlocked.Increment(ref enqueued);
        if (!queue.Writer.TryWrite(usage)) Interlocked.Decrement(ref enqueued);
    }

    async Task RunAsync()
    {
        var batch = new List<UsageRecord>();
        while (await queue.Reader.WaitToReadAsync())
        {
            while (batch.Count < 1000 && queue.Reader.TryRead(out var usage)) batch.Add(usage);
            try { await store.RecordUsageAsync(batch); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                log.LogError(e, "Could not record {Rows} usage rows", batch.Count);
            }
            Interlocked.Add(ref written, batch.Count);
            batch.Clear();
        }
    }

    public async Task FlushAsync()
    {
        var target = Interlocked.Read(ref enqueued);
        while (Interlocked.Read(ref written) < target && !loop.IsCompleted) await Task.Delay(2);
    }

    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        await loop;
    }
}
