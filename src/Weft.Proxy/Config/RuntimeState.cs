namespace Weft.Proxy.Config;

/// <summary>
/// The one mutable reference of the data plane: the current ProxyRuntime. Requests read it once
/// (a volatile read, no lock); the config sink replaces it whole.
/// </summary>
internal sealed class RuntimeState
{
    private ProxyRuntime _current = ProxyRuntime.Empty;
    private int _applied;
    private int _draining;

    public ProxyRuntime Current => Volatile.Read(ref _current);

    /// <summary>True once a first config was accepted.</summary>
    public bool HasConfig => Volatile.Read(ref _applied) != 0;

    /// <summary>
    /// True once shutdown began: /ready says 503 and every HTTP/1 path (Kestrel's and Http1/) answers
    /// with `Connection: close`, so clients move their next requests elsewhere while in-flight ones finish.
    /// </summary>
    public bool IsDraining => Volatile.Read(ref _draining) != 0;

    /// <summary>Starts draining; returns false if it had already started.</summary>
    public bool BeginDrain() => Interlocked.Exchange(ref _draining, 1) == 0;

    public void Publish(ProxyRuntime next)
    {
        Volatile.Write(ref _current, next);
        Volatile.Write(ref _applied, 1);
    }
}
