using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Security.Authorization;

/// <summary>
/// What a decision looks at: the caller's verified identity, and for HTTP the request. A TCP
/// connection (or TLS passthrough) has no method, path or headers: <see cref="IsHttp"/> is false.
/// </summary>
internal readonly ref struct AuthorizationRequest
{
    /// <summary>An HTTP request (any codec): its caller, method, normalized path and headers.</summary>
    public AuthorizationRequest(int port, Mtls.PeerIdentity? peer, string method, string path, HeaderView headers)
    {
        Port = port;
        Peer = peer;
        Method = method;
        Path = path;
        Headers = headers;
        IsHttp = true;
    }

    /// <summary>A connection authorized as it opens, from the caller's identity alone.</summary>
    public AuthorizationRequest(int port, Mtls.PeerIdentity? peer)
    {
        Port = port;
        Peer = peer;
        Method = "";
        Path = "";
        Headers = null;
        IsHttp = false;
    }

    /// <summary>The app's port the caller reaches (what a rule's ports match).</summary>
    public int Port { get; }

    public Mtls.PeerIdentity? Peer { get; }
    public string Method { get; }
    public string Path { get; }
    public HeaderView? Headers { get; }
    public bool IsHttp { get; }
}
