using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Weft.Control.Store;

namespace Weft.Control.Ca;

/// <summary>A service account: the identity a bootstrap token proves (spiffe://TD/ns/NAMESPACE/sa/NAME).</summary>
public sealed record ServiceAccountRef(string Namespace, string Name)
{
    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>
/// The bootstrap tokens that let a proxy prove its service account before it holds a certificate
/// (docs/security.md, "Workload identity"). `weft up` makes one per service account through the API
/// and hands it to that account's sidecars in a file only they read. Only SHA-256 hashes are kept,
/// in `DATA-DIR/bootstrap-tokens.json` (0600): the file reveals no token. A service account keeps its
/// last <see cref="KeptPerAccount"/> tokens.
/// </summary>
public sealed class BootstrapTokens
{
    public const string FileName = "bootstrap-tokens.json";
    public const int KeptPerAccount = 16;
    private const string Prefix = "weft-bt-";

    private sealed record Entry(string Namespace, string ServiceAccount, string Sha256, DateTimeOffset Created);

    private readonly string _path;
    private readonly Lock _gate = new();
    private List<Entry> _entries;

    private BootstrapTokens(string path, List<Entry> entries) => (_path, _entries) = (path, entries);

    public static BootstrapTokens Open(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (!File.Exists(path))
            return new BootstrapTokens(path, []);
        try
        {
            return new BootstrapTokens(path, JsonSerializer.Deserialize<List<Entry>>(File.ReadAllText(path)) ?? []);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a bootstrap token file ({e.Message}): delete it and create the tokens again");
        }
    }

    /// <summary>A new token for <paramref name="account"/>, kept (as its hash) before it is returned.</summary>
    public string Create(ServiceAccountRef account, DateTimeOffset now)
    {
        var token = Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        lock (_gate)
        {
            var kept = _entries.Where(e => e.Namespace == account.Namespace && e.ServiceAccount == account.Name)
                .OrderByDescending(e => e.Created).Take(KeptPerAccount - 1).ToHashSet();
            var next = _entries.Where(e => (e.Namespace != account.Namespace || e.ServiceAccount != account.Name) || kept.Contains(e)).ToList();
            next.Add(new Entry(account.Namespace, account.Name, Hash(token), now));
            DurableFile.WriteAtomically(_path, JsonSerializer.SerializeToUtf8Bytes(next), DurableFile.OwnerOnly, replace: true);
            _entries = next;
        }
        return token;
    }

    /// <summary>The service account an `authorization: Bearer TOKEN` value proves; null when it proves none.</summary>
    public ServiceAccountRef? Verify(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        var offered = Convert.FromHexString(Hash(authorization[scheme.Length..].Trim()));
        List<Entry> entries;
        lock (_gate)
            entries = _entries;
        ServiceAccountRef? found = null;
        // Every entry is compared, in constant time: how long a refusal takes says nothing of the tokens.
        foreach (var entry in entries)
            if (CryptographicOperations.FixedTimeEquals(offered, Convert.FromHexString(entry.Sha256)))
                found = new ServiceAccountRef(entry.Namespace, entry.ServiceAccount);
        return found;
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
