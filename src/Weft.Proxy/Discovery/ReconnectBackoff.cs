namespace Weft.Proxy.Discovery;

/// <summary>
/// Exponential backoff with full jitter (a uniformly random delay up to the current ceiling), so proxies that
/// lost the control plane together do not come back in lockstep when it returns.
/// </summary>
internal sealed class ReconnectBackoff(TimeSpan initial, TimeSpan max, Func<double> random)
{
    private int _failures;

    /// <summary>The ceiling for the next delay: initial, doubling per consecutive failure, capped at max.</summary>
    public TimeSpan Ceiling
    {
        get
        {
            var ceiling = initial.TotalMilliseconds * Math.Pow(2, Math.Min(_failures, 30));
            return TimeSpan.FromMilliseconds(Math.Min(ceiling, max.TotalMilliseconds));
        }
    }

    public TimeSpan Next()
    {
        var delay = TimeSpan.FromMilliseconds(Ceiling.TotalMilliseconds * Math.Clamp(random(), 0, 1));
        _failures++;
        return delay;
    }

    /// <summary>After a healthy stream the next failure starts again from the initial ceiling.</summary>
    public void Reset() => _failures = 0;
}
