using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;

namespace Weft.Proxy.Security;

/// <summary>
/// Obtains this workload's certificate from the control plane's CA and keeps it fresh (docs/security.md,
/// "Workload identity"). Each time: a new ECDSA P-256 key made in memory (never written, never sent), a
/// CSR over it, Discovery/Certify with the bootstrap token read from its file. Renewal comes at half the
/// life the certificate has when it arrives, give or take a tenth (jitter, so a thousand proxies started
/// together do not renew together); a failure is retried with exponential backoff (1 s doubling to 60 s, full jitter). The
/// certificate in use stays until a new one arrives: a control plane that is away breaks nothing
/// before the certificate actually expires.
/// </summary>
public sealed partial class CertificateAgent : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan MaxDelayStep = TimeSpan.FromDays(1);

    /// <summary>The soonest a renewal comes: a certificate with hardly any life left must not make a tight loop against the CA.</summary>
    private static readonly TimeSpan MinRenewal = TimeSpan.FromSeconds(1);

    private readonly ControlPlaneChannels _control;
    private readonly string _instance;
    private readonly BootstrapTokenFile _token;
    private readonly CertificateHolder _holder;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;

    /// <param name="instance">This proxy's Node.id, sent so `weft status` shows the certificate's expiry beside it.</param>
    public CertificateAgent(ControlPlaneChannels control, BootstrapTokenFile token, string instance, CertificateHolder holder, ILogger logger, TimeProvider? time = null, Random? random = null)
    {
        _instance = instance;
        _control = control;
        _token = token;
        _holder = holder;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _random = random ?? Random.Shared;
    }

    /// <summary>Renewals made so far (the first certificate included).</summary>
    public int Issued { get; private set; }

    public void Start()
    {
        _holder.BundleChanged += OnBundleChanged;
        _run = Task.Run(() => RunAsync(_stop.Token));
    }

    // Cancelled to cut the wait short: the CA issues under another root now (a rotation).
    private CancellationTokenSource _wake = new();

    /// <summary>
    /// A bundle whose issuing root is not the one the certificate chains to: the CA rotated its root, so
    /// the certificate is renewed now (within a second or two, jittered) rather than at half its life.
    /// </summary>
    private void OnBundleChanged(MeshTrustBundle bundle)
    {
        if (_holder.Current is { IssuerRootSha256.Length: > 0 } current && bundle.IssuerRootSha256.Length > 0
            && current.IssuerRootSha256 != bundle.IssuerRootSha256)
        {
            LogReissue(_logger, bundle.IssuerRootSha256);
            Volatile.Read(ref _wake).Cancel();
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var failures = 0;
        while (!stop.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                var certificate = await CertifyAsync(stop).ConfigureAwait(false);
                _holder.Set(certificate);
                Issued++;
                failures = 0;
                wait = RenewalDelay(certificate);
                // A bundle that arrived while this certificate was on its way may already name another
                // issuing root (a rotation switched meanwhile): then renew again soon.
                if (_holder.Bundle is { IssuerRootSha256.Length: > 0 } bundle && certificate.IssuerRootSha256.Length > 0
                    && bundle.IssuerRootSha256 != certificate.IssuerRootSha256)
                    wait = TimeSpan.FromMilliseconds(_random.Next(50, 2000));
                LogIssued(_logger, certificate.SpiffeId, certificate.NotAfter, wait);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Whatever went wrong (the control plane away, the token file unreadable, an answer that
                // is not a certificate for our key), the loop goes on: only the next attempt can fix it.
                failures++;
                var ceiling = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, FirstBackoff.Ticks << Math.Min(failures - 1, 20)));
                wait = TimeSpan.FromTicks((long)(_random.NextDouble() * ceiling.Ticks)) + TimeSpan.FromMilliseconds(50);
                LogFailed(_logger, failures, wait, _holder.Current?.NotAfter, Describe(e));
            }
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stop, Volatile.Read(ref _wake).Token);
            try
            {
                await DelayAsync(wait, wake.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException)
            {
                // Woken for a rotation: renew soon, not all at once with every other proxy. The spent
                // source is left to the collector: a bundle arriving now may still be cancelling it.
                Interlocked.Exchange(ref _wake, new CancellationTokenSource());
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(_random.Next(0, 2000)), _time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Task.Delay takes at most ~49 days; a 90-day certificate's renewal waits longer, a day at a time.</summary>
    private async Task DelayAsync(TimeSpan wait, CancellationToken stop)
    {
        var until = _time.GetUtcNow() + wait;
        for (var left = wait; left > TimeSpan.Zero; left = until - _time.GetUtcNow())
            await Task.Delay(left < MaxDelayStep ? left : MaxDelayStep, _time, stop).ConfigureAwait(false);
    }

    /// <summary>
    /// Half the life it has left now, give or take a tenth of it. Counted from its arrival, not from
    /// NotBefore: the CA backdates that for clock skew, which would bring the renewal forward.
    /// </summary>
    private TimeSpan RenewalDelay(WorkloadCertificate certificate)
    {
        var left = certificate.NotAfter - _time.GetUtcNow();
        var delay = left * (0.5 + (_random.NextDouble() - 0.5) * 0.2);
        return delay > MinRenewal ? delay : MinRenewal;
    }

    private async Task<WorkloadCertificate> CertifyAsync(CancellationToken stop)
    {
        var headers = _token.Headers();
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        try
        {
            var csr = new CertificateRequest(new X500DistinguishedName(""), key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
            using var channel = _control.Open();
            var response = await channel.UnaryAsync(DiscoveryMethods.Certify, new CertifyRequest { CsrPem = csr, Instance = _instance },
                new CallOptions(Deadline: _time.GetUtcNow().AddSeconds(30), CancellationToken: stop,
                    Headers: headers)).ConfigureAwait(false);
            using var issued = X509Certificate2.CreateFromPem(response.CertificatePem);
            using var issuedKey = issued.GetECDsaPublicKey();
            if (issuedKey is null || !issuedKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
                throw new CryptographicException("the control plane answered with a certificate for another key");
            var chain = new X509Certificate2Collection();
            chain.ImportFromPem(response.ChainPem);
            var bundle = new X509Certificate2Collection();
            bundle.ImportFromPem(response.TrustBundlePem);
            // The key is not disposed on success: the certificate made from it holds it while in use.
            return new WorkloadCertificate(issued.CopyWithPrivateKey(key), chain, bundle, response.SpiffeId, response.IssuerRootSha256);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    private static string Describe(Exception e) => e is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : e.Message;

    public async ValueTask DisposeAsync()
    {
        _holder.BundleChanged -= OnBundleChanged;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _run.ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Information, Message = "Workload certificate for {SpiffeId} valid until {NotAfter:u}; renewal in {Renewal}")]
    private static partial void LogIssued(ILogger logger, string spiffeId, DateTimeOffset notAfter, TimeSpan renewal);

    [LoggerMessage(EventId = 502, Level = LogLevel.Information, Message = "The CA issues under root {Root} now: renewing the workload certificate")]
    private static partial void LogReissue(ILogger logger, string root);

    [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "No workload certificate (attempt {Attempt}; next in {Retry}; the one in use expires {Expires:u}): {Reason}")]
    private static partial void LogFailed(ILogger logger, int attempt, TimeSpan retry, DateTimeOffset? expires, string reason);
}
