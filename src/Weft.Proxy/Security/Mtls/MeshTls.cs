using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Weft.Model.Identity;
using Weft.Proxy.Transport;

namespace Weft.Proxy.Security.Mtls;

/// <summary>
/// mTLS between sidecars (docs/security.md, "mTLS between sidecars"): TLS 1.3 only, this workload's
/// certificate on both sides, the peer's chain verified against the trust bundle the CA sent and its
/// SPIFFE ID read from it (<see cref="Svid.Verify"/>); a client also checks that the server is the
/// identity the destination should have, so an endpoint cannot impersonate another service. Each
/// handshake uses the certificate held at that moment: renewal changes new connections, not open ones.
/// </summary>
internal sealed class MeshTls(CertificateHolder holder, TimeProvider? time = null)
{
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private CachedContext? _context;

    /// <summary>This workload's certificate, once it has one: without it there is no mTLS either way.</summary>
    public WorkloadCertificate? Certificate => holder.Current;

    /// <summary>Accepts a sidecar's mTLS on <paramref name="connection"/> (its ClientHello unread); throws on any failure.</summary>
    public async ValueTask<TlsConnection> AcceptAsync(ConnectionContext connection, CancellationToken cancellationToken)
    {
        var check = new PeerCheck(this, holder.Current ?? throw new AuthenticationException("this workload holds no certificate yet"), expected: null);
        var ssl = await HandshakeAsync(connection, check, (ssl, ct) => ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = ContextOf(check.Own),
            ClientCertificateRequired = true,
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = MeshAlpn.All,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = check.Validate,
        }, ct), cancellationToken).ConfigureAwait(false);
        return new TlsConnection(connection, ssl, await VerifiedAsync(ssl, check).ConfigureAwait(false));
    }

    /// <summary>
    /// Opens mTLS as a client on <paramref name="connection"/>, offering <paramref name="protocol"/>; the
    /// server must prove <paramref name="expected"/> (namespace and service account; the trust domain is ours).
    /// </summary>
    public async ValueTask<TlsConnection> ConnectAsync(ConnectionContext connection, SslApplicationProtocol protocol, ExpectedPeer expected,
        CancellationToken cancellationToken)
    {
        var check = new PeerCheck(this, holder.Current ?? throw new AuthenticationException("this workload holds no certificate yet"), expected);
        var ssl = await HandshakeAsync(connection, check, (ssl, ct) => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            // SNI names the service, as Istio's outbound SNI does; the identity check is the SPIFFE ID's.
            TargetHost = expected.ServiceAccount + "." + expected.Namespace,
            ClientCertificateContext = ContextOf(check.Own),
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = [protocol],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = check.Validate,
        }, ct), cancellationToken).ConfigureAwait(false);
        if (ssl.NegotiatedApplicationProtocol != protocol)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException($"the peer did not agree to {protocol}");
        }
        return new TlsConnection(connection, ssl, await VerifiedAsync(ssl, check).ConfigureAwait(false));
    }

    /// <summary>The peer the handshake's check found; none (the check never ran) is a failure, not a null identity.</summary>
    private static async ValueTask<PeerIdentity> VerifiedAsync(SslStream ssl, PeerCheck check)
    {
        if (check.Peer is { } peer)
            return peer;
        await ssl.DisposeAsync().ConfigureAwait(false);
        throw new AuthenticationException("the handshake ended without the peer's certificate being checked");
    }

    /// <summary>One handshake within <see cref="HandshakeTimeout"/>; a failure says why the peer was refused when it was.</summary>
    private static async ValueTask<SslStream> HandshakeAsync(ConnectionContext connection, PeerCheck check,
        Func<SslStream, CancellationToken, Task> authenticate, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(new DuplexPipeStream(connection.Transport), leaveInnerStreamOpen: false);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(HandshakeTimeout);
            await authenticate(ssl, deadline.Token).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw check.Refusal is null ? e : new AuthenticationException(check.Refusal, e);
        }
    }

    /// <summary>One handshake's check of the peer's certificate, and what it found.</summary>
    private sealed class PeerCheck(MeshTls owner, WorkloadCertificate own, ExpectedPeer? expected)
    {
        public WorkloadCertificate Own { get; } = own;
        public PeerIdentity? Peer { get; private set; }
        public string? Refusal { get; private set; }

        public bool Validate(object sender, X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors)
        {
            try
            {
                return Check(presented, chain);
            }
            catch (Exception e) when (e is CryptographicException or System.Formats.Asn1.AsnContentException or ArgumentException or FormatException)
            {
                // A certificate too malformed to read is a refusal like any other, never an escaping exception.
                Refusal = "the peer's certificate cannot be read: " + e.Message;
                return false;
            }
        }

        private bool Check(X509Certificate? presented, X509Chain? chain)
        {
            if (presented is null)
            {
                Refusal = "the peer presented no certificate";
                return false;
            }
            // Through what the peer sent beside its leaf and the intermediates of our own chain: one CA
            // issues the whole mesh, and a peer that sends only its leaf (as many TLS stacks do) still chains.
            var ownId = SpiffeId.Parse(Own.SpiffeId, out _);
            var id = Svid.VerifyPresented(presented, chain, Own.Chain, Own.TrustBundle, ownId?.TrustDomain, owner._time.GetUtcNow(), out var error);
            if (id is null)
            {
                Refusal = "the peer's certificate is refused: " + error;
                return false;
            }
            if (expected is { } want && (id.Namespace != want.Namespace || id.ServiceAccount != want.ServiceAccount))
            {
                Refusal = $"the peer is {id}, not the destination's identity ns/{want.Namespace}/sa/{want.ServiceAccount}";
                return false;
            }
            Peer = new PeerIdentity(id, Own.SpiffeId);
            return true;
        }
    }

    /// <summary>The handshake's certificate context (leaf and intermediates), made once per certificate.</summary>
    private SslStreamCertificateContext ContextOf(WorkloadCertificate certificate)
    {
        var cached = Volatile.Read(ref _context);
        if (cached is not null && ReferenceEquals(cached.Certificate, certificate))
            return cached.Context;
        var context = SslStreamCertificateContext.Create(certificate.Leaf, certificate.Chain, offline: true);
        Volatile.Write(ref _context, new CachedContext(certificate, context));
        return context;
    }

    private sealed record CachedContext(WorkloadCertificate Certificate, SslStreamCertificateContext Context);
}

/// <summary>Who a destination's endpoint must prove to be: its namespace and service account (the trust domain is the mesh's).</summary>
internal readonly record struct ExpectedPeer(string Namespace, string ServiceAccount);
