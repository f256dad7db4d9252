using System.Buffers;
using System.Buffers.Binary;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>RFC 9113 6: the frame types this codec knows; any other type is read and ignored.</summary>
internal enum FrameType : byte
{
    Data = 0x0,
    Headers = 0x1,
    Priority = 0x2,
    RstStream = 0x3,
    Settings = 0x4,
    PushPromise = 0x5,
    Ping = 0x6,
    GoAway = 0x7,
    WindowUpdate = 0x8,
    Continuation = 0x9,
}

/// <summary>RFC 9113 7: error codes of RST_STREAM and GOAWAY.</summary>
internal enum Http2Error : uint
{
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    CompressionError = 0x9,
    ConnectError = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

/// <summary>Frame flags (their meaning depends on the type; RFC 9113 6).</summary>
internal static class FrameFlags
{
    public const byte EndStream = 0x1;
    public const byte Ack = 0x1;
    public const byte EndHeaders = 0x4;
    public const byte Padded = 0x8;
    public const byte Priority = 0x20;
}

/// <summary>RFC 9113 6.5.2: SETTINGS identifiers.</summary>
internal enum SettingId : ushort
{
    HeaderTableSize = 0x1,
    EnablePush = 0x2,
    MaxConcurrentStreams = 0x3,
    InitialWindowSize = 0x4,
    MaxFrameSize = 0x5,
    MaxHeaderListSize = 0x6,
}

/// <summary>A frame's 9-byte header (RFC 9113 4.1).</summary>
internal readonly record struct FrameHeader(int Length, FrameType Type, byte Flags, int StreamId)
{
    public const int Size = 9;

    public bool Has(byte flag) => (Flags & flag) != 0;

    public static FrameHeader Read(ReadOnlySpan<byte> header) => new(
        (header[0] << 16) | (header[1] << 8) | header[2],
        (FrameType)header[3],
        header[4],
        (int)(BinaryPrimitives.ReadUInt32BigEndian(header[5..]) & 0x7FFFFFFF));

    /// <summary>Reads a header at the start of <paramref name="buffer"/> (false: fewer than 9 bytes).</summary>
    public static bool TryRead(in ReadOnlySequence<byte> buffer, out FrameHeader header)
    {
        if (buffer.Length < Size)
        {
            header = default;
            return false;
        }
        var first = buffer.FirstSpan;
        if (first.Length >= Size)
        {
            header = Read(first);
            return true;
        }
        Span<byte> copy = stackalloc byte[Size];
        buffer.Slice(0, Size).CopyTo(copy);
        header = Read(copy);
        return true;
    }

    public static void Write(Span<byte> destination, int length, FrameType type, byte flags, int streamId)
    {
        destination[0] = (byte)(length >> 16);
        destination[1] = (byte)(length >> 8);
        destination[2] = (byte)length;
        destination[3] = (byte)type;
        destination[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(destination[5..], (uint)streamId & 0x7FFFFFFF);
    }
}

/// <summary>The protocol's fixed values.</summary>
internal static class Http2Protocol
{
    /// <summary>RFC 9113 3.4: the client's connection preface.</summary>
    public static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public const int PrefaceLength = 24;

    /// <summary>The window every stream and the connection start with (RFC 9113 6.9.2).</summary>
    public const int DefaultWindow = 65535;

    public const int MaxWindow = int.MaxValue;

    /// <summary>SETTINGS_MAX_FRAME_SIZE's default and lower bound.</summary>
    public const int DefaultMaxFrame = 16384;

    public const int MaxFrameUpperBound = 16777215;
}
