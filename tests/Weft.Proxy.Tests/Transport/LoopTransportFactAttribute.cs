namespace Weft.Proxy.Tests.Transport;

/// <summary>
/// A fact about Weft's own transport where .NET's sockets behave otherwise (docs/proxy.md,
/// "Transport"): skipped, with the reason, when the suite runs over WEFT_PROXY_TRANSPORT=sockets.
/// </summary>
public sealed class LoopTransportFactAttribute : FactAttribute
{
    public LoopTransportFactAttribute(string socketsDiffer)
    {
        if (Environment.GetEnvironmentVariable("WEFT_PROXY_TRANSPORT") == "sockets")
            Skip = "a fact about Weft's own transport; over .NET's sockets " + socketsDiffer;
        else if (!Weft.Proxy.Transport.Native.Supported)
            Skip = "the loop transport needs Linux on x86-64";
    }
}
