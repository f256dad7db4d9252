using System.Globalization;

namespace Weft.Cli.Up.Isolation;

/// <summary>
/// Who an isolated app runs as: never root and never the sidecars' uid, with no capabilities
/// (<see cref="ReplicaLaunch.AppProcess"/>), so it can neither change its namespace's interception
/// rules nor leave the namespace.
/// </summary>
/// <param name="Source">Why this uid, for `weft up`'s output: <see cref="FromSudo"/>, or why the dedicated uid.</param>
/// <remarks>
/// The person who ran `sudo weft up` (SUDO_UID, SUDO_GID) owns the checkout and can read the app's
/// files, so that is who the app runs as. Without one (root's own shell, CI) the app runs as
/// <see cref="DedicatedUid"/>, an unprivileged uid of no one, next to the sidecars' 1337. Never 1337:
/// the rules exempt that uid's traffic from redirection, so an app as 1337 would bypass its sidecar.
/// Never gid 0 either: group root reads files such as /etc/sudoers. Supplementary groups are cleared,
/// not initialised: a user's groups may open doors out of the namespace (the docker group's socket).
/// </remarks>
internal sealed record AppUser(int Uid, int Gid, string Home, string Source)
{
    /// <summary>The apps' uid and gid when no SUDO_UID names a user: no account, no files, no capabilities.</summary>
    public const int DedicatedUid = 1338;

    /// <summary>The <see cref="Source"/> of the user who ran sudo.</summary>
    public const string FromSudo = "SUDO_UID";

    /// <summary>The dedicated uid, HOME /tmp as the sidecars' (it has no home).</summary>
    public static readonly AppUser Dedicated = new(DedicatedUid, DedicatedUid, "/tmp", "no SUDO_UID");

    /// <summary>The user who ran sudo, when SUDO_UID names one that may run apps; else <see cref="Dedicated"/> (pure).</summary>
    /// <param name="environment">weft up's environment (SUDO_UID, SUDO_GID).</param>
    /// <param name="passwd">The text of /etc/passwd, for the user's home; null when unreadable.</param>
    public static AppUser Choose(Func<string, string?> environment, string? passwd)
    {
        if (environment("SUDO_UID") is not { Length: > 0 } text)
            return Dedicated;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var uid) || uid == 0)
            return Dedicated with { Source = $"SUDO_UID {text} is not an unprivileged user" };
        if (uid == InterceptionRules.ProxyUid)
            return Dedicated with { Source = $"SUDO_UID {text} is the sidecars' uid, whose traffic is never intercepted" };
        var gid = int.TryParse(environment("SUDO_GID"), NumberStyles.None, CultureInfo.InvariantCulture, out var g) && g != 0 ? g : DedicatedUid;
        return new AppUser(uid, gid, HomeOf(uid, passwd) ?? "/tmp", FromSudo);
    }

    /// <summary>The home folder /etc/passwd gives the uid (its first entry), or null.</summary>
    internal static string? HomeOf(int uid, string? passwd)
    {
        var id = uid.ToString(CultureInfo.InvariantCulture);
        foreach (var line in (passwd ?? "").Split('\n'))
            if (line.Split(':') is [_, _, var u, _, _, var home, ..] && u == id && home.Length > 0)
                return home;
        return null;
    }

    /// <summary>Whether this is the user who ran `sudo weft up` (and owns the files), not the dedicated uid.</summary>
    public bool IsSudoUser => Source == FromSudo;

    public string UidText => Uid.ToString(CultureInfo.InvariantCulture);

    public string GidText => Gid.ToString(CultureInfo.InvariantCulture);
}
