using Weft.Proxy.Transport;

namespace Weft.Proxy.Tests.Transport;

/// <summary>A fact about batched sends: skipped, with the reason, where the kernel offers no io_uring.</summary>
public sealed class IoUringFactAttribute : FactAttribute
{
    public IoUringFactAttribute()
    {
        if (!Native.Supported)
            Skip = "the loop transport needs Linux on x86-64";
        else if (!Available.Value)
            Skip = "io_uring_setup failed here (kernel without io_uring, or io_uring disabled): sends are made one by one";
    }

    private static readonly Lazy<bool> Available = new(() =>
    {
        using var ring = IoUring.TryCreate(1);
        return ring is not null;
    });
}
