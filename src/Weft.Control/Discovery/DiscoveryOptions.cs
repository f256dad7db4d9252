namespace Weft.Control.Discovery;

public sealed record DiscoveryOptions
{
    /// <summary>Changes arriving within this window are pushed together: a flurry of registrations is one push.</summary>
    public TimeSpan Debounce { get; init; } = TimeSpan.FromMilliseconds(15);

    /// <summary>How long a disconnected proxy stays in `weft status` before its record is dropped.</summary>
    public TimeSpan DisconnectedRetention { get; init; } = TimeSpan.FromMinutes(5);
}
