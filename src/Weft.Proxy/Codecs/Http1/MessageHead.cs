namespace Weft.Proxy.Codecs.Http1;

/// <summary>What a header field name is to the proxy; names it does not care about stay bytes.</summary>
internal enum FieldKind : byte
{
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Upgrade,
    Expect,
    HopByHop,
    WeftSource,
    WeftOther,
    ContentType,
}

/// <summary>A header field as offsets into the head buffer: the raw block is kept and re-emitted, never turned into a dictionary.</summary>
internal struct HeaderField
{
    public int NameStart;
    public int NameLength;
    public int ValueStart;
    public int ValueLength;
    public FieldKind Kind;

    /// <summary>Not forwarded: hop-by-hop, named in Connection, framing the proxy re-emits, or removed by the pipeline.</summary>
    public bool Drop;

    /// <summary>Removed by the pipeline (identity, header modifiers): not forwarded, and no step sees it any more.</summary>
    public bool Removed;
}

/// <summary>
/// One request or response head, parsed in place. Owned by a connection and reused for each message,
/// so parsing allocates nothing. Offsets are into <see cref="Buffer"/>.
/// </summary>
internal sealed class MessageHead
{
    // Sized for common heads (a few hundred bytes, under 16 fields) and grown on demand: a sidecar
    // holds one per client connection and one per upstream connection, thousands when busy.
    public byte[] Buffer = new byte[512];
    public int Length;
    public HeaderField[] Fields = new HeaderField[16];
    public int FieldCount;

    // Request line.
    public int MethodStart, MethodLength, TargetStart, TargetLength;
    // Status line.
    public int Status, ReasonStart, ReasonLength;
    public bool Http10;

    // Framing and connection management.
    public long ContentLength;
    public bool Chunked;
    public bool ConnectionClose;
    public bool ConnectionKeepAlive;
    public bool ConnectionUpgrade;
    public bool ExpectContinue;
    public int UpgradeField;
    public int HostCount;
    public int SourceCount;
    public bool ContentTypeGrpc;

    public ReadOnlySpan<byte> Method => Buffer.AsSpan(MethodStart, MethodLength);
    public ReadOnlySpan<byte> Target => Buffer.AsSpan(TargetStart, TargetLength);
    public ReadOnlySpan<byte> Reason => Buffer.AsSpan(ReasonStart, ReasonLength);
    public ReadOnlySpan<byte> Name(int i) => Buffer.AsSpan(Fields[i].NameStart, Fields[i].NameLength);
    public ReadOnlySpan<byte> Value(int i) => Buffer.AsSpan(Fields[i].ValueStart, Fields[i].ValueLength);

    /// <summary>The raw "name: value" line of field i, without CRLF (as received, OWS trimmed).</summary>
    public ReadOnlySpan<byte> Line(int i) => Buffer.AsSpan(Fields[i].NameStart, Fields[i].ValueStart + Fields[i].ValueLength - Fields[i].NameStart);

    public bool HasBody => Chunked || ContentLength > 0;

    /// <summary>An HTTP/1.1 Upgrade the proxy forwards: the one rule is <see cref="Pipeline.UpgradeOffer"/>.</summary>
    public bool IsUpgrade =>
        UpgradeField >= 0 && Pipeline.UpgradeOffer.IsForwarded(!Http10, ConnectionUpgrade, UpgradeText(), HasBody);

    private ReadOnlySpan<char> UpgradeText()
    {
        var value = Value(UpgradeField);
        // Upgrade values are short tokens; a long one is no protocol we forward to anyway.
        return value.Length <= 64 ? System.Text.Encoding.Latin1.GetString(value) : "";
    }

    public void Reset()
    {
        Length = 0;
        FieldCount = 0;
        MethodStart = MethodLength = TargetStart = TargetLength = 0;
        Status = ReasonStart = ReasonLength = 0;
        Http10 = false;
        ContentLength = -1;
        Chunked = ConnectionClose = ConnectionKeepAlive = ConnectionUpgrade = ExpectContinue = ContentTypeGrpc = false;
        UpgradeField = -1;
        SourceCount = 0;
        HostCount = 0;
    }

    // Sized for common heads and grown on demand by one large head; a connection that met one gives
    // the extra memory back after that message, so thousands of idle connections hold the small size.
    private const int InitialBytes = 512, ShrinkAboveBytes = 4096, InitialFields = 16, ShrinkAboveFields = 64;

    /// <summary>After a message: buffers grown past their usual size go back to it.</summary>
    public void Shrink()
    {
        if (Buffer.Length > ShrinkAboveBytes)
            Buffer = new byte[InitialBytes];
        if (Fields.Length > ShrinkAboveFields)
            Fields = new HeaderField[InitialFields];
    }

    public void EnsureCapacity(int length)
    {
        if (Buffer.Length < length)
            Buffer = new byte[Math.Max(length, Buffer.Length * 2)];
    }
}
