namespace Weft.Proxy.Pipeline;

/// <summary>
/// The one rule for which HTTP/1.1 Upgrade offers the proxy forwards (WebSocket or any protocol but
/// h2c): an HTTP/1.1 request, Connection naming upgrade, an Upgrade value, no body. h2c is for one hop
/// only: the hop to the upstream speaks what the cluster says, so `curl --http2`'s offer is served as
/// plain HTTP/1.1.
/// </summary>
internal static class UpgradeOffer
{
    public static bool IsForwarded(bool http11, bool connectionUpgrade, ReadOnlySpan<char> upgrade, bool hasBody)
    {
        if (!http11 || !connectionUpgrade || hasBody)
            return false;
        var value = upgrade.Trim();
        return !value.IsEmpty && !value.Equals("h2c", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Whether a Connection field value (comma-separated tokens, any case) names upgrade.</summary>
    public static bool NamesUpgrade(ReadOnlySpan<char> connection)
    {
        foreach (var range in connection.Split(','))
        {
            if (connection[range].Trim().Equals("upgrade", StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }
}
