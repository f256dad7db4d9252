using System.Text;
using Weft.Control.Store;

namespace Weft.Control.Ca;

/// <summary>
/// `weft control --trust-bundle-file PATH`: the bundle written where proxies read their --ca-file, and
/// written again at every change, so a proxy that starts after a root rotation trusts the control
/// plane's new certificate. World-readable: roots are public.
/// </summary>
internal static class TrustBundleFile
{
    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static void Write(string path, CertificateAuthority authority)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        DurableFile.WriteAtomically(path, Encoding.ASCII.GetBytes(authority.TrustBundlePem), Readable, replace: true);
    }
}
