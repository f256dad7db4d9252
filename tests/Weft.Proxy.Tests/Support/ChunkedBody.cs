using System.Text;

namespace Weft.Proxy.Tests.Support;

/// <summary>HTTP/1.1 chunked framing, read by the tests' raw clients (whole body in hand; extensions ignored).</summary>
public static class ChunkedBody
{
    public static string Decode(string body)
    {
        var sb = new StringBuilder();
        while (true)
        {
            var line = body.IndexOf("\r\n", StringComparison.Ordinal);
            var size = Convert.ToInt32(body[..line].Split(';')[0], 16);
            if (size == 0)
                return sb.ToString();
            sb.Append(body.AsSpan(line + 2, size));
            body = body[(line + 2 + size + 2)..];
        }
    }
}
