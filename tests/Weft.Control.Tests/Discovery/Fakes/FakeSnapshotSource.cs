using System.Collections.Immutable;
using Weft.Control.Discovery;
using Weft.Protocol.Discovery;

namespace Weft.Tests.Fakes;

/// <summary>Serves one snapshot to every proxy; Publish replaces it and raises Changed like a config or registry change.</summary>
internal sealed class FakeSnapshotSource : IProxySnapshotSource
{
    private volatile ProxySnapshot _current;

    public FakeSnapshotSource(long revision, params Resource[] resources) => _current = new ProxySnapshot(revision, Resources.Set(resources));

    public event Action? Changed;
    public int Builds;

    public ProxySnapshot Build(Node node)
    {
        Interlocked.Increment(ref Builds);
        return _current;
    }

    public void Publish(long revision, params Resource[] resources)
    {
        _current = new ProxySnapshot(revision, Resources.Set(resources));
        Changed?.Invoke();
    }

    public void Publish(ProxySnapshot snapshot)
    {
        _current = snapshot;
        Changed?.Invoke();
    }

    public void Touch() => Changed?.Invoke();

    public ImmutableDictionary<string, Resource> Current => _current.Resources;
}
