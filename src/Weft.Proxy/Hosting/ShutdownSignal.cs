using System.Runtime.InteropServices;

namespace Weft.Proxy.Hosting;

/// <summary>
/// A token that fires on SIGINT or SIGTERM (and, for weft's own children, when the `weft up` that
/// started them is gone), so every long-running command drains the same way.
/// </summary>
public sealed class ShutdownSignal : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration _int;
    private readonly PosixSignalRegistration _term;

    public ShutdownSignal()
    {
        _int = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _cts.Token;

    public void Trigger() => _cts.Cancel();

    public void Dispose()
    {
        _int.Dispose();
        _term.Dispose();
        _cts.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // we stop in order ourselves instead of the runtime's immediate exit
        _cts.Cancel();
    }
}
