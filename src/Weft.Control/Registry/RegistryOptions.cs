namespace Weft.Control.Registry;

public sealed record RegistryOptions
{
    /// <summary>How long an endpoint outlives its closed stream; a reconnect within it is no change at all.</summary>
    public TimeSpan DisconnectGrace { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How long workloads restored after a restart wait for their proxy before they are dropped.</summary>
    public TimeSpan RestoreGrace { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Where registry.json lives; null keeps the registry in memory only.</summary>
    public string? DataDir { get; init; }
}
