using FewShot.Access.Keys;
using FewShot.Access.Storage;

namespace FewShot.Access.Tests;

/// <summary>The shared store's key cache: fresh entries served, entries past half their time read again behind the answer, none served past its time.</summary>
public sealed class KeyCacheTests
{
    static KeyMatch Match(int version) =>
        new(new KeyRecord($"key_{version}", KeyKind.Personal, "v", [1], "h", DateTimeOffset.UtcNow, null, null, [], [], KeyLimits.None), IsPrevious: false);

    [Fact]
    public async Task AnEntryPastHalfItsTimeIsServedWhileItIsReadAgainAndOnePastItsTimeWaitsForTheRead()
    {
        var now = 0L;
        var cache = new KeyCache(TimeSpan.FromMilliseconds(600), () => now);
        var reads = 0;
        var blocked = new TaskCompletionSource<KeyMatch?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<KeyMatch?> Read(CancellationToken _) => Interlocked.Increment(ref reads) switch
        {
            1 => Task.FromResult<KeyMatch?>(Match(1)),
            2 => Task.FromResult<KeyMatch?>(Match(2)),
            _ => blocked.Task,
        };

        Assert.Equal("key_1", (await cache.GetAsync("k", Read))!.Key.Id);
        Assert.Equal("key_1", (await cache.GetAsync("k", Read))!.Key.Id);  // fresh: no read
        Assert.Equal(1, reads);

        now += 400;  // past half its time: served, and read again behind the answer
        Assert.Equal("key_1", (await cache.GetAsync("k", Read))!.Key.Id);
        Assert.Equal(2, reads);
        Assert.Equal("key_2", (await cache.GetAsync("k", Read))!.Key.Id);  // the new read replaced it

        now += 400;  // past half again: the third read hangs, and the answer does not wait for it
        var served = cache.GetAsync("k", Read);
        Assert.True(served.IsCompleted);
        Assert.Equal("key_2", (await served)!.Key.Id);
        Assert.Equal(3, reads);

        now += 400;  // past its time, the read still hanging: the request waits for a read of its own
        var waiting = cache.GetAsync("k", Read);
        Assert.False(waiting.IsCompleted);
        blocked.SetResult(Match(3));
        Assert.Equal("key_3", (await waiting)!.Key.Id);
    }

    [Fact]
    public async Task AKeyThatIsGoneWhenReadAgainIsForgotten()
    {
        var now = 0L;
        var cache = new KeyCache(TimeSpan.FromMilliseconds(400), () => now);
        var exists = true;
        Task<KeyMatch?> Read(CancellationToken _) => Task.FromResult(exists ? Match(1) : null);
        Assert.NotNull(await cache.GetAsync("k", Read));
        exists = false;
        now += 250;
        Assert.NotNull(await cache.GetAsync("k", Read));  // still within its time; read again behind it, and found gone
        // Still within the first entry's time, yet read: it was forgotten.
        Assert.Equal("key_9", (await cache.GetAsync("k", _ => Task.FromResult<KeyMatch?>(Match(9))))!.Key.Id);
    }
}
