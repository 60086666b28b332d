namespace FewShot.Serving.Upstreams;

/// <summary>
/// Closed: requests flow; <c>failures</c> in a row open it. Open: requests go elsewhere until <c>openFor</c> has passed.
/// Half-open: one request goes through; its success closes the breaker, its failure opens it again.
/// </summary>
public sealed class CircuitBreaker(int failures, TimeSpan openFor, TimeProvider time)
{
    public enum State { Closed = 0, Open = 1, HalfOpen = 2 }

    readonly Lock gate = new();
    int consecutive;
    DateTimeOffset openUntil;
    bool open, trialOut;

    public State Current
    {
        get
        {
            lock (gate) return !open ? State.Closed : time.GetUtcNow() < openUntil ? State.Open : State.HalfOpen;
        }
    }

    /// <summary>Whether a request may go now (in half-open state only one at a time); when not, how long until it may.</summary>
    public bool TryPass(out TimeSpan wait)
    {
        lock (gate)
        {
            wait = TimeSpan.Zero;
            if (!open) return true;
            var now = time.GetUtcNow();
            if (now < openUntil) { wait = openUntil - now; return false; }
            if (trialOut) { wait = TimeSpan.FromSeconds(1); return false; }
            trialOut = true;
            return true;
        }
    }

    public void Success()
    {
        lock (gate) { consecutive = 0; open = false; trialOut = false; }
    }

    /// <summary>Counts a failure; true when this one opened the breaker.</summary>
    public bool Failure()
    {
        lock (gate)
        {
            consecutive++;
            if (!(open && trialOut) && (open || consecutive < failures)) return false;
            open = true;
            trialOut = false;
            openUntil = time.GetUtcNow() + openFor;
            return true;
        }
    }

    /// <summary>A request that passed but ended neither way (the client left): lets the next trial through.</summary>
    public void Abandon()
    {
        lock (gate) trialOut = false;
    }
}
