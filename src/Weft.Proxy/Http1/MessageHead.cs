namespace Weft.Proxy.Http1;

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

    /// <summary>Not forwarded: hop-by-hop, named in Connection, or replaced by the proxy.</summary>
    public bool Drop;
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
    public int SourceField;
    public bool ContentTypeGrpc;

    public ReadOnlySpan<byte> Method => Buffer.AsSpan(MethodStart, MethodLength);
    public ReadOnlySpan<byte> Target => Buffer.AsSpan(TargetStart, TargetLength);
    public ReadOnlySpan<byte> Reason => Buffer.AsSpan(ReasonStart, ReasonLength);
    public ReadOnlySpan<byte> Name(int i) => Buffer.AsSpan(Fields[i].NameStart, Fields[i].NameLength);
    public ReadOnlySpan<byte> Value(int i) => Buffer.AsSpan(Fields[i].ValueStart, Fields[i].ValueLength);

    /// <summary>The raw "name: value" line of field i, without CRLF (as received, OWS trimmed).</summary>
    public ReadOnlySpan<byte> Line(int i) => Buffer.AsSpan(Fields[i].NameStart, Fields[i].ValueStart + Fields[i].ValueLength - Fields[i].NameStart);

    public bool HasBody => Chunked || ContentLength > 0;

    /// <summary>
    /// An HTTP/1.1 Upgrade the proxy forwards (WebSocket or any other protocol): Connection names
    /// upgrade, Upgrade is there, no body, and not h2c (the hop to the upstream speaks what the cluster
    /// says). Kestrel's path applies the same rule (Http/UpgradeTunnel.Offered), so both paths agree.
    /// </summary>
    public bool IsUpgrade =>
        ConnectionUpgrade && UpgradeField >= 0 && !Http10 && !HasBody && Value(UpgradeField).Length != 0
        && !System.Text.Ascii.EqualsIgnoreCase(Value(UpgradeField), "h2c"u8);

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
        SourceField = -1;
        HostCount = 0;
    }

    public void EnsureCapacity(int length)
    {
        if (Buffer.Length < length)
            Buffer = new byte[Math.Max(length, Buffer.Length * 2)];
    }
}
