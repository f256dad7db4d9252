using System.Buffers;
using System.Buffers.Binary;

namespace Weft.Proxy.Codecs.Tls;

internal enum ClientHelloStatus
{
    /// <summary>So far a well-formed ClientHello; more bytes are needed.</summary>
    Incomplete,

    /// <summary>A whole ClientHello was read; the server name is null when the client sent none.</summary>
    Complete,

    /// <summary>Not a TLS ClientHello, or one no client would send.</summary>
    Invalid,
}

/// <summary>
/// Reads the server_name (SNI, RFC 6066) of a TLS ClientHello that a connection starts with, without
/// consuming it: the bytes then go on, untouched, to the server that terminates TLS. The ClientHello
/// may be split across TCP segments and across TLS records (RFC 8446 5.1); both are reassembled.
/// Everything is bounded: a handshake longer than <see cref="MaxHandshakeLength"/> is invalid.
/// </summary>
internal static class ClientHello
{
    /// <summary>Ample for real ClientHellos (post-quantum key shares make them ~2 KB), small enough to bound memory.</summary>
    public const int MaxHandshakeLength = 64 * 1024;

    /// <summary>
    /// What a caller buffers at most, record headers included: a ClientHello still Incomplete past
    /// this is refused (real ones fit one record; a hello cut into tiny records is an attack).
    /// </summary>
    public const int MaxBufferedBytes = MaxHandshakeLength + (16 * 1024);

    private const int RecordHeaderLength = 5;
    private const byte HandshakeRecord = 0x16;
    private const byte ClientHelloType = 1;
    private const int MaxRecordLength = 1 << 14;   // TLSPlaintext.length
    private const ushort ServerNameExtension = 0;
    private const ushort AlpnExtension = 16;
    private const byte HostNameType = 0;
    private const int MaxHostNameLength = 255;

    public static ClientHelloStatus TryReadServerName(in ReadOnlySequence<byte> buffer, out string? serverName) =>
        TryRead(buffer, out serverName, out _);

    /// <summary>
    /// The server name, and whether the ALPN list (RFC 7301) offers a protocol of Weft's own mTLS
    /// between sidecars (<c>weft-</c>...): that is what tells a sidecar's handshake from an app's.
    /// </summary>
    public static ClientHelloStatus TryRead(in ReadOnlySequence<byte> buffer, out string? serverName, out bool meshAlpn)
    {
        serverName = null;
        meshAlpn = false;
        var capacity = (int)Math.Min(buffer.Length, MaxHandshakeLength + 4);
        if (capacity < 4)
            return QuickCheck(buffer);
        var handshake = ArrayPool<byte>.Shared.Rent(capacity);
        try
        {
            var status = Reassemble(buffer, handshake, out var length);
            if (status != ClientHelloStatus.Complete)
                return status;
            return ParseClientHello(handshake.AsSpan(4, length - 4), out serverName, out meshAlpn);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(handshake);
        }
    }

    /// <summary>Too few bytes for a handshake header: still reject what cannot be a handshake record.</summary>
    private static ClientHelloStatus QuickCheck(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[3];
        var n = (int)Math.Min(buffer.Length, 3);
        buffer.Slice(0, n).CopyTo(head);
        if (n >= 1 && head[0] != HandshakeRecord)
            return ClientHelloStatus.Invalid;
        if (n >= 2 && head[1] != 3)
            return ClientHelloStatus.Invalid;
        return ClientHelloStatus.Incomplete;
    }

    /// <summary>Copies the handshake message out of its records; Complete when all of it is there.</summary>
    private static ClientHelloStatus Reassemble(in ReadOnlySequence<byte> buffer, byte[] handshake, out int length)
    {
        length = 0;
        var needed = -1;
        var reader = new SequenceReader<byte>(buffer);
        Span<byte> header = stackalloc byte[RecordHeaderLength];
        while (true)
        {
            if (!reader.TryCopyTo(header))
                return QuickCheck(buffer.Slice(reader.Position));
            if (header[0] != HandshakeRecord || header[1] != 3)
                return ClientHelloStatus.Invalid;
            var recordLength = BinaryPrimitives.ReadUInt16BigEndian(header[3..]);
            if (recordLength is 0 or > MaxRecordLength)
                return ClientHelloStatus.Invalid;
            reader.Advance(RecordHeaderLength);
            var available = (int)Math.Min(recordLength, reader.Remaining);
            var take = needed < 0 ? available : Math.Min(available, needed - length);
            if (length + take > handshake.Length)
                return ClientHelloStatus.Invalid;
            reader.UnreadSequence.Slice(0, take).CopyTo(handshake.AsSpan(length));
            length += take;
            reader.Advance(available);
            if (needed < 0 && length >= 4)
            {
                if (handshake[0] != ClientHelloType)
                    return ClientHelloStatus.Invalid;
                var bodyLength = (handshake[1] << 16) | (handshake[2] << 8) | handshake[3];
                if (bodyLength > MaxHandshakeLength)
                    return ClientHelloStatus.Invalid;
                needed = 4 + bodyLength;
                if (length > needed)
                    return ClientHelloStatus.Invalid;   // another message shares the record: not a client's first flight
            }
            if (needed >= 0 && length == needed)
                return ClientHelloStatus.Complete;
            if (available < recordLength)
                return ClientHelloStatus.Incomplete;
        }
    }

    private static ClientHelloStatus ParseClientHello(ReadOnlySpan<byte> body, out string? serverName, out bool meshAlpn)
    {
        serverName = null;
        meshAlpn = false;
        var r = new SpanCursor(body);
        if (!r.Skip(2 + 32))                                   // legacy_version, random
            return ClientHelloStatus.Invalid;
        if (!r.ReadVector8(out var sessionId) || sessionId.Length > 32)
            return ClientHelloStatus.Invalid;
        if (!r.ReadVector16(out var suites) || suites.Length < 2 || (suites.Length & 1) != 0)
            return ClientHelloStatus.Invalid;
        if (!r.ReadVector8(out var compression) || compression.Length < 1)
            return ClientHelloStatus.Invalid;
        if (r.Remaining == 0)
            return ClientHelloStatus.Complete;                 // no extensions, so no SNI
        if (!r.ReadVector16(out var extensions) || r.Remaining != 0)
            return ClientHelloStatus.Invalid;

        var e = new SpanCursor(extensions);
        var found = false;
        while (e.Remaining > 0)
        {
            if (!e.ReadUInt16(out var type) || !e.ReadVector16(out var data))
                return ClientHelloStatus.Invalid;
            if (type == AlpnExtension)
            {
                if (!TryReadMeshAlpn(data, out var mesh))
                    return ClientHelloStatus.Invalid;
                meshAlpn |= mesh;
                continue;
            }
            if (type != ServerNameExtension)
                continue;
            if (found)
                return ClientHelloStatus.Invalid;              // RFC 8446 4.2: one extension of each type
            found = true;
            if (!TryReadHostName(data, out serverName))
                return ClientHelloStatus.Invalid;
        }
        return ClientHelloStatus.Complete;
    }

    /// <summary>Whether a protocol_name_list names one starting with <c>weft-</c>; false for a malformed list.</summary>
    private static bool TryReadMeshAlpn(ReadOnlySpan<byte> extension, out bool mesh)
    {
        mesh = false;
        var x = new SpanCursor(extension);
        if (!x.ReadVector16(out var list) || x.Remaining != 0 || list.Length == 0)
            return false;
        var l = new SpanCursor(list);
        while (l.Remaining > 0)
        {
            if (!l.ReadVector8(out var name) || name.Length == 0)
                return false;
            mesh |= name.StartsWith("weft-"u8);
        }
        return true;
    }

    private static bool TryReadHostName(ReadOnlySpan<byte> extension, out string? hostName)
    {
        hostName = null;
        var x = new SpanCursor(extension);
        if (!x.ReadVector16(out var list) || x.Remaining != 0 || list.Length == 0)
            return false;
        var l = new SpanCursor(list);
        while (l.Remaining > 0)
        {
            if (!l.ReadByte(out var nameType) || !l.ReadVector16(out var name))
                return false;
            if (nameType != HostNameType || hostName is not null)
                continue;
            hostName = ToHostName(name);
            if (hostName is null)
                return false;
        }
        return true;
    }

    /// <summary>A DNS name in lower case without its trailing dot; null for anything else (RFC 6066: no IP literals, ASCII only).</summary>
    private static string? ToHostName(ReadOnlySpan<byte> name)
    {
        if (name.Length > 0 && name[^1] == (byte)'.')
            name = name[..^1];
        if (name.Length is 0 or > MaxHostNameLength)
            return null;
        foreach (var b in name)
        {
            var ok = b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
                or (byte)'-' or (byte)'.' or (byte)'_';
            if (!ok)
                return null;
        }
        return string.Create(name.Length, name, static (chars, bytes) =>
        {
            for (var i = 0; i < bytes.Length; i++)
                chars[i] = (char)(bytes[i] is >= (byte)'A' and <= (byte)'Z' ? bytes[i] + 32 : bytes[i]);
        });
    }

    private ref struct SpanCursor(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly int Remaining => _rest.Length;

        public bool Skip(int count)
        {
            if (_rest.Length < count)
                return false;
            _rest = _rest[count..];
            return true;
        }

        public bool ReadByte(out byte value)
        {
            value = 0;
            if (_rest.Length < 1)
                return false;
            value = _rest[0];
            _rest = _rest[1..];
            return true;
        }

        public bool ReadUInt16(out ushort value)
        {
            value = 0;
            if (_rest.Length < 2)
                return false;
            value = BinaryPrimitives.ReadUInt16BigEndian(_rest);
            _rest = _rest[2..];
            return true;
        }

        public bool ReadVector8(out ReadOnlySpan<byte> value)
        {
            value = default;
            return ReadByte(out var length) && Take(length, out value);
        }

        public bool ReadVector16(out ReadOnlySpan<byte> value)
        {
            value = default;
            return ReadUInt16(out var length) && Take(length, out value);
        }

        private bool Take(int length, out ReadOnlySpan<byte> value)
        {
            value = default;
            if (_rest.Length < length)
                return false;
            value = _rest[..length];
            _rest = _rest[length..];
            return true;
        }
    }
}
