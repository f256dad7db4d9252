using System.Collections.Immutable;
using Weft.Control.Store;
using Weft.Model.Resources;

namespace Weft.Tests.Fakes;

internal sealed class FakeConfigSource : IConfigSource
{
    public ConfigSnapshot Current { get; private set; } = ConfigSnapshot.Empty with { Revision = 1 };
    public event Action<ConfigSnapshot>? Changed;

    public void Bump()
    {
        Current = new ConfigSnapshot(Current.Revision + 1, ImmutableDictionary<ResourceKey, Resource>.Empty);
        Changed?.Invoke(Current);
    }

    public void Publish(ConfigSnapshot snapshot)
    {
        Current = snapshot;
        Changed?.Invoke(Current);
    }
}
