using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Weft.Control.Store;

namespace Weft.Control.Ca;

/// <summary>
/// The CA's files, laid out as Istio's plug-in CA (`cacerts`) so an operator's existing set drops in:
/// `root-cert.pem` (the trust bundle: one root or several), `ca-cert.pem` and `ca-key.pem` (the
/// intermediate that signs workload certificates), `cert-chain.pem` (the intermediate up to the root),
/// and `root-key.pem` when Weft made the root itself. Keys are written owner-only (0600), certificates
/// 0644, each file atomically (docs/security.md, "Certificate authority").
/// </summary>
internal static class CaFiles
{
    public const string RootCert = "root-cert.pem";
    public const string RootKey = "root-key.pem";
    public const string CaCert = "ca-cert.pem";
    public const string CaKey = "ca-key.pem";
    public const string CertChain = "cert-chain.pem";

    /// <summary>During a root rotation: the old intermediates, trusted for verification until the old root retires.</summary>
    public const string RetiringChain = "retiring-chain.pem";

    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static bool Exist(string dir, string name) => File.Exists(Path.Combine(dir, name));

    public static void WriteKey(string dir, string name, ECDsa key) =>
        DurableFile.WriteAtomically(Path.Combine(dir, name), Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem() + "\n"), DurableFile.OwnerOnly);

    /// <param name="replace">Whether a file of that name is replaced (a rotation rewrites the bundle).</param>
    public static void WriteCertificates(string dir, string name, IEnumerable<X509Certificate2> certificates, bool replace = false) =>
        DurableFile.WriteAtomically(Path.Combine(dir, name),
            Encoding.ASCII.GetBytes(string.Concat(certificates.Select(c => c.ExportCertificatePem() + "\n"))), Readable, replace);

    /// <summary>Copies one CA file over another atomically, keeping the source's mode (a key stays owner-only).</summary>
    public static void CopyOver(string fromDir, string toDir, string name)
    {
        var from = Path.Combine(fromDir, name);
        var mode = OperatingSystem.IsWindows() ? (UnixFileMode?)null : File.GetUnixFileMode(from);
        DurableFile.WriteAtomically(Path.Combine(toDir, name), File.ReadAllBytes(from), mode, replace: true);
    }

    /// <summary>Every certificate in a PEM file, in order; an error that names the file when there is none or one is malformed.</summary>
    public static X509Certificate2[] ReadCertificates(string dir, string name)
    {
        var path = Path.Combine(dir, name);
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(File.ReadAllText(path));
        }
        catch (CryptographicException e)
        {
            throw new CaException($"{path}: not a PEM certificate file: {e.Message}");
        }
        if (collection.Count == 0)
            throw new CaException($"{path}: holds no certificate (-----BEGIN CERTIFICATE-----)");
        return [.. collection];
    }

    /// <summary>The EC private key in a PEM file; an error that names the file otherwise.</summary>
    public static ECDsa ReadKey(string dir, string name)
    {
        var path = Path.Combine(dir, name);
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
            throw new CaException($"{path}: a private key readable by others than its owner: chmod 600 it");
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            return key;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            key.Dispose();
            throw new CaException($"{path}: not a PEM EC private key (ECDSA P-256 or P-384): {e.Message}");
        }
    }
}

/// <summary>The CA cannot start (its files) or refuses a request: the message says which and why.</summary>
public sealed class CaException(string message) : Exception(message);
