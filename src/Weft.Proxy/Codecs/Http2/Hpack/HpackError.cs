namespace Weft.Proxy.Codecs.Http2.Hpack;

internal enum HpackError
{
    None,

    /// <summary>
    /// Malformed block (RFC 7541 errors: bad index, bad integer, bad Huffman, size update too big or not at the
    /// block start, truncated): COMPRESSION_ERROR.
    /// </summary>
    Compression,

    /// <summary>
    /// The decoded list passed the caller's hard limit: the caller sends GOAWAY; decoding stopped (table state is
    /// no longer trustworthy).
    /// </summary>
    ListTooLarge,
}
