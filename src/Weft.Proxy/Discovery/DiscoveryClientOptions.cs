namespace Weft.Proxy.Discovery;

public sealed record DiscoveryClientOptions
{
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Source of jitter in [0, 1); tests pin it. Default: Random.Shared.</summary>
    public Func<double>? Random { get; init; }
}
