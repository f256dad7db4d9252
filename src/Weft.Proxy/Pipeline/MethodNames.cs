using System.Text;

namespace Weft.Proxy.Pipeline;

/// <summary>A request method as the pipeline's string, from the bytes a codec parsed: the common ones without an allocation.</summary>
internal static class MethodNames
{
    public static string Of(ReadOnlySpan<byte> method) => method.Length switch
    {
        3 when method.SequenceEqual("GET"u8) => "GET",
        3 when method.SequenceEqual("PUT"u8) => "PUT",
        4 when method.SequenceEqual("POST"u8) => "POST",
        4 when method.SequenceEqual("HEAD"u8) => "HEAD",
        5 when method.SequenceEqual("PATCH"u8) => "PATCH",
        6 when method.SequenceEqual("DELETE"u8) => "DELETE",
        7 when method.SequenceEqual("OPTIONS"u8) => "OPTIONS",
        7 when method.SequenceEqual("CONNECT"u8) => "CONNECT",
        _ => Encoding.ASCII.GetString(method),
    };

    private static readonly string[] Standard = ["GET", "PUT", "POST", "HEAD", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];

    /// <summary>
    /// A standard method in other than upper case ("delete"). Methods are case-sensitive (RFC 9110 9.1),
    /// so it is another method to a rule, but ASP.NET and others serve it as the standard one: refused.
    /// </summary>
    public static bool IsMiscasedStandard(string method)
    {
        if (method.Length is < 3 or > 7)
            return false;
        foreach (var standard in Standard)
        {
            if (standard.Length == method.Length && string.Equals(standard, method, StringComparison.OrdinalIgnoreCase))
                return !string.Equals(standard, method, StringComparison.Ordinal);
        }
        return false;
    }
}
