using System.Runtime.InteropServices;
using Weft.Cli.Commands;
using Weft.Control.Api;
using Weft.Model.Topology;

namespace Weft.Cli.Up;

/// <summary>
/// `weft up` makes one bootstrap token per service account it runs (a workload's is its service's
/// name; the ingress gateway's is `ingress`) and writes each to a file only the sidecars read (0600;
/// with isolation, owned by the sidecars' uid), handed to them with --bootstrap-token-file
/// (docs/security.md, "Workload identity").
/// </summary>
internal static class BootstrapTokenFiles
{
    public const string GatewayAccount = "ingress";

    /// <summary>"namespace/service-account" -> the token file, for every account of <paramref name="topology"/>.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> CreateAsync(Topology topology, Uri api, string dataDir, string folder, int? ownerUid, CancellationToken ct)
    {
        var accounts = topology.Workloads.Select(w => (w.Namespace, Account: w.Service)).ToList();
        if (topology.Ingress is not null)
            accounts.Add(("default", GatewayAccount));
        // The folder stays root's (searchable by all): a folder the sidecars' uid owned would let it swap
        // a file for a link between its creation and the change of owner.
        Directory.CreateDirectory(folder);
        using var client = new ApiClient(api, dataDir);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (ns, account) in accounts.Distinct())
        {
            var response = await client.PostAsync("tokens", new TokenRequest(ns, account), ct).ConfigureAwait(false);
            if (!response.Ok)
                throw new InvalidOperationException($"no bootstrap token for {ns}/{account}: {response.ErrorMessage()}");
            var path = Path.Combine(folder, $"{ns}.{account}.token");
            File.Delete(path);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var file = new FileStream(path, options))
            {
                // Given to the sidecars' uid through the open descriptor, never by path.
                if (ownerUid is { } uid)
                    Chown(file, path, uid);
                file.Write(System.Text.Encoding.ASCII.GetBytes(response.Read<TokenResponse>().Token + "\n"));
            }
            files[$"{ns}/{account}"] = path;
        }
        return files;
    }

    /// <summary>Removes the files <see cref="CreateAsync"/> wrote (at shutdown, once the sidecars have stopped).</summary>
    public static void Delete(IReadOnlyDictionary<string, string>? files)
    {
        foreach (var path in files?.Values ?? [])
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // left behind: `weft up` replaces it at its next start
            }
        }
    }

    private static void Chown(FileStream file, string path, int uid)
    {
        if (fchown((int)file.SafeFileHandle.DangerousGetHandle(), uid, -1) != 0)
            throw new IOException($"chown {path} to uid {uid} failed (errno {Marshal.GetLastPInvokeError()})");
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    private static extern int fchown(int fd, int owner, int group);
#pragma warning restore SYSLIB1054
}
