using System.Net;
using System.Text;
using Weft.Control.Store;

namespace Weft.Control.Api;

/// <summary>
/// Where each control plane on this machine keeps its data dir, so the weft CLI run by the same user
/// finds the API token there without being told (docs/security.md, "The control plane's API"). One
/// file per API address and port under ~/.config/weft/controls (XDG_CONFIG_HOME), holding the data
/// dir's path, not the token: the token stays in the data dir, readable by its owner only. An entry is
/// used only while a control plane holds that data dir's store lock.
/// </summary>
public static class LocalControls
{
    /// <summary>The folder of the entries; null when the user has no home to keep them in.</summary>
    public static string? Folder
    {
        get
        {
            var config = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData);
            return string.IsNullOrEmpty(config) ? null : Path.Combine(config, "weft", "controls");
        }
    }

    /// <summary>Records that the API at <paramref name="address"/>:<paramref name="port"/> keeps its data in <paramref name="dataDir"/>; the entry's path, or null when it could not be written.</summary>
    public static string? Register(IPAddress address, int port, string dataDir)
    {
        if (Folder is not { } folder)
            return null;
        try
        {
            Directory.CreateDirectory(folder);
            Prune(folder);
            var path = Path.Combine(folder, EntryName(address, port));
            DurableFile.WriteAtomically(path, Encoding.UTF8.GetBytes(Path.GetFullPath(dataDir)), DurableFile.OwnerOnly, replace: true);
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;    // a read-only home: the CLI then needs WEFT_TOKEN
        }
    }

    /// <summary>Drops the entries of control planes that are gone without removing theirs (kill -9): nobody holds their data dir.</summary>
    private static void Prune(string folder)
    {
        foreach (var entry in Directory.EnumerateFiles(folder))
        {
            try
            {
                if (!Held(File.ReadAllText(entry).Trim()))
                    File.Delete(entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // another user's, or being replaced: left as it is
            }
        }
    }

    /// <summary>Removes an entry this control plane wrote, unless another one has written it since.</summary>
    public static void Unregister(string entry, string dataDir)
    {
        try
        {
            if (File.Exists(entry) && File.ReadAllText(entry) == Path.GetFullPath(dataDir))
                File.Delete(entry);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // left behind: the next control plane on that port replaces it
        }
    }

    /// <summary>
    /// The token of the control plane at <paramref name="control"/> when it runs on this machine and
    /// registered its data dir; null when it is not known here (the API's 401 then says what to do).
    /// </summary>
    public static string? FindToken(Uri control)
    {
        if (Folder is not { } folder || !IsLocal(control.Host))
            return null;
        IPAddress[] candidates = IPAddress.TryParse(control.Host.Trim('[', ']'), out var ip)
            ? [ip, IPAddress.Any, IPAddress.IPv6Any]
            : [IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Any, IPAddress.IPv6Any];
        foreach (var address in candidates)
        {
            try
            {
                var entry = Path.Combine(folder, EntryName(address, control.Port));
                if (!File.Exists(entry))
                    continue;
                var dataDir = File.ReadAllText(entry).Trim();
                // Only while a control plane holds that data dir: an entry a crash left behind must not
                // hand the token to whatever listens on the port now.
                if (!Held(dataDir))
                    continue;
                var token = Path.Combine(dataDir, ApiToken.FileName);
                if (File.Exists(token))
                    return File.ReadAllText(token).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // not ours to read: try the next
            }
        }
        return null;
    }

    /// <summary>Whether a running control plane holds the data dir's store lock (it opens it exclusively while it runs).</summary>
    private static bool Held(string dataDir)
    {
        var path = Path.Combine(dataDir, FileConfigStore.LockFileName);
        if (!File.Exists(path))
            return false;
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static bool IsLocal(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static string EntryName(IPAddress address, int port) => $"{address}_{port}".Replace(':', '-');
}
