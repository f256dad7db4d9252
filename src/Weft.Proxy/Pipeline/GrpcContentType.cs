using System.Text;

namespace Weft.Proxy.Pipeline;

/// <summary>
/// The one test for a gRPC request, whichever codec read it: Content-Type `application/grpc`, alone or
/// with a subtype (`+proto`, `+json`) or parameters. Media types ignore case (RFC 9110 8.3.1). It
/// decides the request timeout's and the data rate's exemptions and the `protocol` label.
/// </summary>
internal static class GrpcContentType
{
    private static ReadOnlySpan<byte> Prefix => "application/grpc"u8;

    public static bool Is(ReadOnlySpan<byte> contentType) =>
        contentType.Length >= Prefix.Length && Ascii.EqualsIgnoreCase(contentType[..Prefix.Length], Prefix) && Boundary(contentType.Length > Prefix.Length ? contentType[Prefix.Length] : (byte)0);

    public static bool Is(ReadOnlySpan<char> contentType) =>
        contentType.Length >= Prefix.Length && Ascii.EqualsIgnoreCase(contentType[..Prefix.Length], "application/grpc") && Boundary(contentType.Length > Prefix.Length ? contentType[Prefix.Length] : '\0');

    // `application/grpc-web` is another protocol: only the end, a subtype or parameters may follow.
    private static bool Boundary(int next) => next is 0 or '+' or ';' or ' ' or '\t';
}
