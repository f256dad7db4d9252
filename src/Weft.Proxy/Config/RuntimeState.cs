namespace Weft.Proxy.Config;

/// <summary>
/// The one mutable reference of the data plane: the current ProxyRuntime. Requests read it once
/// (a volatile read, no lock); the config sink replaces it whole.
/// </summary>
internal sealed class RuntimeState
{
    private ProxyRuntime _current = ProxyRuntime.Empty;
    private int _applied;

    public ProxyRuntime Current => Volatile.Read(ref _current);

    /// <summary>True once a first config was accepted.</summary>
    public bool HasConfig => Volatile.Read(ref _applied) != 0;

    public void Publish(ProxyRuntime next)
    {
        Volatile.Write(ref _current, next);
        Volatile.Write(ref _applied, 1);
    }
}
