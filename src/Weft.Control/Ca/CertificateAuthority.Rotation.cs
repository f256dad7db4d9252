using System.Security.Cryptography.X509Certificates;

namespace Weft.Control.Ca;

/// <summary>What the rotation waits for, for `weft ca status` and the API.</summary>
/// <param name="ProxiesWithoutBundle">Distributing: connected proxies that have not applied the bundle holding the new root.</param>
/// <param name="LiveUnderOldRoot">Reissuing: holders whose newest certificate still chains to the old root, with its expiry.</param>
public sealed record RotationProgress(RotationState State, IReadOnlyList<string> ProxiesWithoutBundle, IReadOnlyList<(string Holder, DateTimeOffset NotAfter)> LiveUnderOldRoot);

/// <summary>
/// Root rotation (docs/security.md, "Root rotation"): a new root joins the bundle; once every connected
/// proxy has applied that bundle the CA issues under the new root and proxies renew at once; the old
/// root leaves the bundle only when no live certificate chains to it. Each step is written to the CA
/// folder before it takes effect, so a restart goes on where it was.
/// </summary>
public sealed partial class CertificateAuthority
{
    private readonly Lock _rotationGate = new();
    private RotationState _rotation;

    /// <summary>Raised after the bundle or the issuing root changed (the generation grew).</summary>
    public event Action? BundleChanged;

    public RotationState Rotation => _rotation;

    /// <summary>Whether Weft made the root (its key is in the folder): only then can `weft ca rotate` rotate it.</summary>
    public bool OwnsRoot => CaFiles.Exist(_dir, CaFiles.RootKey);

    /// <summary>Grows with every change of the bundle or of the root the CA issues under.</summary>
    public long BundleGeneration => _rotation.Generation;

    /// <summary>
    /// Starts a rotation: a new root and intermediate (ECDSA P-256, as at first start) made in the CA
    /// folder's `next/`, the new root added to the bundle. The CA goes on issuing under the old root.
    /// </summary>
    public RotationState StartRotation()
    {
        lock (_rotationGate)
        {
            if (_rotation.Phase != RotationPhase.None)
                throw new CaException($"a root rotation is already under way ({_rotation.Phase.ToString().ToLowerInvariant()}, started {_rotation.StartedAt:u}): `weft ca status` shows what it waits for");
            if (!OwnsRoot)
                throw new CaException($"this CA's root is the operator's ({Path.Combine(_dir, CaFiles.RootKey)} is absent): rotate it with your own PKI " +
                    $"(add the new root to {CaFiles.RootCert}, then replace {CaFiles.CaCert}, {CaFiles.CaKey} and {CaFiles.CertChain} and restart)");
            var next = Path.Combine(_dir, RotationState.NextFolder);
            if (Directory.Exists(next))
                Directory.Delete(next, recursive: true);   // a start that crashed before it was recorded
            CreateAtomically(next, _options.TrustDomain, _time);
            var newRoot = CaFiles.ReadCertificates(next, CaFiles.RootCert)[0];
            var issuer = _issuer;
            var state = new RotationState(RotationPhase.Distributing, _rotation.Generation + 1, issuer.IssuingRootSha256, Sha256(newRoot), _time.GetUtcNow());
            // Recorded before the bundle changes: a start cut short between the two is completed at the
            // next start (RecoverRotation), never left as a root in the bundle that no rotation owns.
            state.Save(_dir);
            X509Certificate2[] roots = [.. issuer.Roots, newRoot];
            CaFiles.WriteCertificates(_dir, CaFiles.RootCert, roots, replace: true);
            _issuer = issuer with { Roots = roots, RootCollection = [.. roots] };
            _rotation = state;
        }
        RaiseBundleChanged();
        return _rotation;
    }

    /// <summary>What the rotation waits for now, without taking a step (the API's GET).</summary>
    public RotationProgress RotationProgress(Func<long, IReadOnlyList<string>> proxiesWithoutGeneration)
    {
        lock (_rotationGate)
        {
            var state = _rotation;
            return new RotationProgress(state,
                state.Phase == RotationPhase.Distributing ? proxiesWithoutGeneration(state.Generation) : [],
                state.Phase == RotationPhase.Reissuing ? _ledger.LiveUnder(state.OldRoot!) : []);
        }
    }

    /// <summary>The bundle as proxies get it, read in one piece: its roots, the issuing root and the generation.</summary>
    public (string RootsPem, string IssuerRootSha256, long Generation) BundleSnapshot()
    {
        lock (_rotationGate)
            return (TrustBundlePem, IssuerRootSha256, _rotation.Generation);
    }

    /// <summary>Every subscriber hears of the change, whichever of them fails; the failures are thrown together after.</summary>
    private void RaiseBundleChanged()
    {
        List<Exception>? errors = null;
        foreach (var handler in BundleChanged?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action)handler)();
            }
            catch (Exception e)
            {
                (errors ??= []).Add(e);
            }
        }
        if (errors is not null)
            throw new AggregateException("a subscriber to the trust bundle's change failed", errors);
    }

    /// <summary>
    /// Takes the rotation's next step when what it waits for holds; called every second or so.
    /// <paramref name="proxiesWithoutGeneration"/> names the connected proxies that have not applied the
    /// bundle of the given generation yet.
    /// </summary>
    public RotationProgress AdvanceRotation(Func<long, IReadOnlyList<string>> proxiesWithoutGeneration)
    {
        var changed = false;
        RotationProgress progress;
        lock (_rotationGate)
        {
            var state = _rotation;
            IReadOnlyList<string> waiting = [];
            if (state.Phase == RotationPhase.Distributing)
            {
                waiting = proxiesWithoutGeneration(state.Generation);
                if (waiting.Count == 0)
                {
                    Switch();
                    changed = true;
                }
            }
            else if (state.Phase == RotationPhase.Reissuing && _ledger.LiveUnder(state.OldRoot!).Count == 0)
            {
                Retire();
                changed = true;
            }
            state = _rotation;
            progress = new RotationProgress(state, state.Phase == RotationPhase.Distributing ? waiting : [],
                state.Phase == RotationPhase.Reissuing ? _ledger.LiveUnder(state.OldRoot!) : []);
        }
        if (changed)
            RaiseBundleChanged();
        return progress;
    }

    /// <summary>The new intermediate signs from now on; proxies see the new issuing root and renew.</summary>
    private void Switch()
    {
        var switching = _rotation with { Phase = RotationPhase.Switching };
        // The old intermediates stay trusted for verification until the old root retires: a proxy
        // presents its leaf alone, and with its certificate of the old root it must still reach the CA.
        CaFiles.WriteCertificates(_dir, CaFiles.RetiringChain, _issuer.Chain, replace: true);
        switching.Save(_dir);
        CompleteSwitch(_dir);
        _issuer = LoadIssuer(_dir, _options, _time);
        var state = switching with { Phase = RotationPhase.Reissuing, Generation = switching.Generation + 1, SwitchedAt = _time.GetUtcNow() };
        state.Save(_dir);
        _rotation = state;
        Directory.Delete(Path.Combine(_dir, RotationState.NextFolder), recursive: true);
    }

    /// <summary>Puts next/'s intermediate and root key in place, keys first; safe to repeat after a crash.</summary>
    private static void CompleteSwitch(string dir)
    {
        var next = Path.Combine(dir, RotationState.NextFolder);
        if (!Directory.Exists(next))
            return;     // already moved: only the folder's removal was left
        foreach (var name in (string[])[CaFiles.RootKey, CaFiles.CaKey, CaFiles.CertChain, CaFiles.CaCert])
            CaFiles.CopyOver(next, dir, name);
    }

    /// <summary>No live certificate chains to the old root any more: it leaves the bundle.</summary>
    private void Retire()
    {
        var state = _rotation;
        var issuer = _issuer;
        X509Certificate2[] roots = [.. issuer.Roots.Where(r => Sha256(r) != state.OldRoot)];
        CaFiles.WriteCertificates(_dir, CaFiles.RootCert, roots, replace: true);
        var done = new RotationState(RotationPhase.None, state.Generation + 1, state.OldRoot, state.NewRoot, state.StartedAt, state.SwitchedAt, _time.GetUtcNow());
        done.Save(_dir);
        Store.DurableFile.TryDelete(Path.Combine(_dir, CaFiles.RetiringChain));
        _issuer = issuer with { Roots = roots, RootCollection = [.. roots], VerifyChain = issuer.Chain };
        _rotation = done;
    }

    /// <summary>A start after a crash in the switch finishes it before the CA loads its files.</summary>
    private static void RecoverRotation(string dir, TimeProvider time)
    {
        var state = RotationState.Load(dir);
        var next = Path.Combine(dir, RotationState.NextFolder);
        if (state.Phase == RotationPhase.Distributing && Directory.Exists(next))
        {
            // A start cut short after it was recorded: the new root joins the bundle now.
            var roots = CaFiles.ReadCertificates(dir, CaFiles.RootCert);
            var newRoot = CaFiles.ReadCertificates(next, CaFiles.RootCert)[0];
            if (!roots.Any(r => Sha256(r) == Sha256(newRoot)))
                CaFiles.WriteCertificates(dir, CaFiles.RootCert, [.. roots, newRoot], replace: true);
            return;
        }
        if (state.Phase != RotationPhase.Switching)
            return;
        CompleteSwitch(dir);
        if (Directory.Exists(next))
            Directory.Delete(next, recursive: true);
        (state with { Phase = RotationPhase.Reissuing, Generation = state.Generation + 1, SwitchedAt = time.GetUtcNow() }).Save(dir);
    }
}
