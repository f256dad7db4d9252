using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Weft.Proxy.Codecs.Http2.Hpack;

namespace Weft.Proxy.Codecs.Http2;

/// <summary>A connection error (RFC 9113 5.4.1): the connection ends with GOAWAY carrying <see cref="Code"/>. Cold: thrown once per connection.</summary>
internal sealed class Http2ConnectionException(Http2Error code, string message) : IOException(message)
{
    public Http2Error Code { get; } = code;
}

/// <summary>What this side advertises and enforces.</summary>
internal readonly record struct LocalSettings(
    int MaxConcurrentStreams, int InitialWindow, int ConnectionWindow, int MaxFrame, int HeaderTable, int MaxHeaderList, int MaxHeaderCount);

/// <summary>
/// One HTTP/2 connection, server or client side: the frame reader and every rule of RFC 9113 that does
/// not depend on the side (frame sizes, SETTINGS, PING, WINDOW_UPDATE, flow control of received DATA,
/// header blocks and their CONTINUATIONs, RST_STREAM, GOAWAY, unknown frames). Frames are read on the
/// connection's loop thread, one read at a time, and handled synchronously: a stream's work that
/// starts here runs until it first waits, then the next frame is read. The side adds how streams open.
/// </summary>
internal abstract class Http2Connection : StreamInput.IOwner
{
    protected readonly PipeReader Input;
    protected readonly LocalSettings Local;
    protected readonly HpackDecoder Decoder;
    private readonly Dictionary<int, Http2Stream> _streams = [];
    private readonly Lock _streamsGate = new();
    private byte[] _scratch = [];
    private byte[] _block = [];
    private int _blockLength;
    private int _blockStream;
    private bool _blockEndStream;
    private bool _sawSettings;
    private int _receiveWindow;          // bytes the peer may still send on the connection
    private int _unreturned;             // consumed, not yet given back (under the output's lock)

    protected Http2Connection(PipeReader input, PipeWriter output, LocalSettings local)
    {
        Input = input;
        Output = new Http2Output(output);
        Local = local;
        Decoder = new HpackDecoder(local.HeaderTable);
        _drop = new DropTarget(this);
        _receiveWindow = Http2Protocol.DefaultWindow;
    }

    public Http2Output Output { get; }

    /// <summary>The window each stream we receive on starts with (our SETTINGS_INITIAL_WINDOW_SIZE).</summary>
    public int LocalInitialWindow => Local.InitialWindow;

    /// <summary>Streams open now (in the table).</summary>
    public int OpenStreams
    {
        get
        {
            lock (_streamsGate)
                return _streams.Count;
        }
    }

    /// <summary>The highest stream id the peer opened (server) or we opened (client).</summary>
    protected int HighestStreamId;

    /// <summary>A header block is being received (HEADERS without END_HEADERS so far).</summary>
    protected bool InHeaderBlock => _blockStream != 0;

    /// <summary>Our SETTINGS, and the connection window grown to what the settings say (the protocol starts it at 64 KB).</summary>
    protected void WriteOpeningLocked()
    {
        Span<(SettingId, uint)> settings =
        [
            (SettingId.MaxConcurrentStreams, (uint)Local.MaxConcurrentStreams),
            (SettingId.InitialWindowSize, (uint)Local.InitialWindow),
            (SettingId.MaxFrameSize, (uint)Local.MaxFrame),
            (SettingId.HeaderTableSize, (uint)Local.HeaderTable),
            (SettingId.MaxHeaderListSize, (uint)Local.MaxHeaderList),
            (SettingId.EnablePush, 0),
        ];
        Output.WriteSettingsLocked(settings, ack: false);
        if (Local.ConnectionWindow > Http2Protocol.DefaultWindow)
        {
            Output.WriteWindowUpdateLocked(0, Local.ConnectionWindow - Http2Protocol.DefaultWindow);
            Interlocked.Add(ref _receiveWindow, Local.ConnectionWindow - Http2Protocol.DefaultWindow);
        }
    }

    // ------------------------------------------------------------------ the stream table

    protected void AddStream(Http2Stream stream)
    {
        lock (_streamsGate)
            _streams[stream.Id] = stream;
    }

    protected Http2Stream? FindStream(int id)
    {
        lock (_streamsGate)
            return _streams.GetValueOrDefault(id);
    }

    /// <summary>Both sides ended (or a reset): the stream leaves the table.</summary>
    public void CloseStream(Http2Stream stream)
    {
        if (!stream.TryClose())
            return;
        int left;
        lock (_streamsGate)
        {
            if (_streams.TryGetValue(stream.Id, out var found) && ReferenceEquals(found, stream))
                _streams.Remove(stream.Id);
            left = _streams.Count;
        }
        OnStreamClosed(stream, left);
    }

    /// <summary>A stream left the table; <paramref name="open"/> are left.</summary>
    protected abstract void OnStreamClosed(Http2Stream stream, int open);

    /// <summary>Resets a stream from our side: RST_STREAM, its bodies stop, it leaves the table.</summary>
    public void ResetStream(Http2Stream stream, Http2Error error)
    {
        if (stream.Closed)
            return;
        RememberReset(stream.Id);
        lock (Output.Gate)
            Output.WriteRstStreamLocked(stream.Id, error);
        Output.Flush();
        stream.Output.Abort();
        stream.Input.Fail(new IOException("the stream was reset (" + error + ")"));
        CloseStream(stream);
        // Whoever waits on the stream's other side (an upstream for a client's request) stops too.
        stream.OnReset(error, connectionLost: false);
    }

    /// <summary>The open streams (cold: a heartbeat's look at streams blocked on the peer's window).</summary>
    protected Http2Stream[] SnapshotStreams()
    {
        lock (_streamsGate)
            return [.. _streams.Values];
    }

    /// <summary>Every stream, for a connection that ends: each is told, and leaves the table.</summary>
    protected void AbortAllStreams(Http2Error error)
    {
        Http2Stream[] streams;
        lock (_streamsGate)
        {
            streams = [.. _streams.Values];
        }
        foreach (var stream in streams)
        {
            stream.Output.Abort();
            stream.Input.Fail(new IOException("the HTTP/2 connection ended (" + error + ")"));
            stream.OnReset(error, connectionLost: true);
            CloseStream(stream);
        }
    }

    // ------------------------------------------------------------------ reading frames

    /// <summary>
    /// One read of the connection: its complete frames handled, the rest left in the input for the next
    /// read. The connection error to end with (GOAWAY's code), if a frame broke a rule.
    /// </summary>
    protected Http2Error? ProcessRead(in ReadResult result)
    {
        var buffer = result.Buffer;
        try
        {
            ProcessFrames(ref buffer);
            return null;
        }
        catch (Http2ConnectionException ex)
        {
            return ex.Code;
        }
        finally
        {
            Input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Handles every complete frame at the start of <paramref name="buffer"/>, leaving the rest there.
    /// A connection error throws <see cref="Http2ConnectionException"/>.
    /// </summary>
    private void ProcessFrames(ref ReadOnlySequence<byte> buffer)
    {
        while (FrameHeader.TryRead(buffer, out var header))
        {
            if (header.Length > Local.MaxFrame)
                throw new Http2ConnectionException(Http2Error.FrameSizeError, "a frame of " + header.Length + " bytes, over the maximum frame size");
            if (buffer.Length < FrameHeader.Size + header.Length)
                return;
            var payload = buffer.Slice(FrameHeader.Size, header.Length);
            ReadOnlySpan<byte> span;
            if (payload.IsSingleSegment)
            {
                span = payload.FirstSpan;
            }
            else
            {
                if (_scratch.Length < header.Length)
                {
                    if (_scratch.Length != 0)
                        ArrayPool<byte>.Shared.Return(_scratch);
                    _scratch = ArrayPool<byte>.Shared.Rent(Math.Max(header.Length, 4096));
                }
                payload.CopyTo(_scratch);
                span = _scratch.AsSpan(0, header.Length);
            }
            buffer = buffer.Slice(FrameHeader.Size + header.Length);
            ProcessFrame(header, span);
        }
    }

    private void ProcessFrame(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (!_sawSettings)
        {
            if (header.Type != FrameType.Settings)
                throw new Http2ConnectionException(Http2Error.ProtocolError, "the first frame was not SETTINGS");
            _sawSettings = true;
        }
        if (_blockStream != 0 && header.Type != FrameType.Continuation)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "a " + header.Type + " frame inside a header block");
        if (Unproductive(header) && ++_unproductive > MaxUnproductiveFramesPerTick)
            throw new Http2ConnectionException(Http2Error.EnhanceYourCalm, "a flood of frames that carry no request (" + header.Type + ")");
        switch (header.Type)
        {
            case FrameType.Data:
                OnData(header, payload);
                break;
            case FrameType.Headers:
                OnHeadersFrame(header, payload);
                break;
            case FrameType.Continuation:
                OnContinuation(header, payload);
                break;
            case FrameType.Priority:
                if (header.StreamId == 0)
                    throw new Http2ConnectionException(Http2Error.ProtocolError, "PRIORITY on stream 0");
                if (payload.Length != 5)
                    OnStreamError(header.StreamId, Http2Error.FrameSizeError);
                break;
            case FrameType.RstStream:
                OnRstStream(header, payload);
                break;
            case FrameType.Settings:
                OnSettings(header, payload);
                break;
            case FrameType.PushPromise:
                throw new Http2ConnectionException(Http2Error.ProtocolError, "PUSH_PROMISE (push is disabled)");
            case FrameType.Ping:
                OnPing(header, payload);
                break;
            case FrameType.GoAway:
                if (header.StreamId != 0)
                    throw new Http2ConnectionException(Http2Error.ProtocolError, "GOAWAY on a stream");
                if (payload.Length < 8)
                    throw new Http2ConnectionException(Http2Error.FrameSizeError, "GOAWAY shorter than 8 bytes");
                OnGoAway((int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF), (Http2Error)BinaryPrimitives.ReadUInt32BigEndian(payload[4..]));
                break;
            case FrameType.WindowUpdate:
                OnWindowUpdate(header, payload);
                break;
            default:
                break;           // RFC 9113 4.1: unknown types are ignored
        }
    }

    /// <summary>
    /// Frames that move no request forward (PING, SETTINGS, PRIORITY, unknown types, empty DATA or
    /// CONTINUATION that end nothing) a peer may send per heartbeat tick; past it the connection is a
    /// flood (CVE-2019-9512, -9515, -9518; CVE-2024-27316 for CONTINUATION) and ends with ENHANCE_YOUR_CALM.
    /// </summary>
    public const int MaxUnproductiveFramesPerTick = 1000;

    private int _unproductive;

    /// <summary>A heartbeat tick: the flood count starts over.</summary>
    protected void ResetFloodCount() => _unproductive = 0;

    private static bool Unproductive(in FrameHeader header) => header.Type switch
    {
        FrameType.Data => header.Length == 0 && !header.Has(FrameFlags.EndStream),
        FrameType.Continuation => header.Length == 0 && !header.Has(FrameFlags.EndHeaders),
        FrameType.Headers or FrameType.RstStream or FrameType.WindowUpdate or FrameType.GoAway => false,
        FrameType.Ping or FrameType.Settings => !header.Has(FrameFlags.Ack),
        _ => true,
    };

    /// <summary>A stream error on a stream that may not be open (a frame about it was malformed).</summary>
    internal void OnStreamError(int streamId, Http2Error error)
    {
        if (FindStream(streamId) is { } stream)
        {
            ResetStream(stream, error);
            return;
        }
        lock (Output.Gate)
            Output.WriteRstStreamLocked(streamId, error);
        Output.Flush();
    }

    /// <summary>Strips padding (RFC 9113 6.1, 6.2): the padding length must be less than the payload.</summary>
    private static ReadOnlySpan<byte> Unpad(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (!header.Has(FrameFlags.Padded))
            return payload;
        if (payload.Length < 1 || payload[0] >= payload.Length)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "padding as long as the frame");
        return payload.Slice(1, payload.Length - 1 - payload[0]);
    }

    /// <summary>Whether a stream id the peer uses for a new stream is one the peer may open.</summary>
    protected abstract bool IsPeerStreamId(int streamId);

    private void OnData(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.StreamId == 0)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "DATA on stream 0");
        var data = Unpad(header, payload);
        // The whole frame counts against the connection's window, padding included.
        if (Interlocked.Add(ref _receiveWindow, -header.Length) < 0)
            throw new Http2ConnectionException(Http2Error.FlowControlError, "DATA past the connection's window");
        var stream = FindStream(header.StreamId);
        if (stream is null || stream.RemoteEnded)
        {
            GiveBack(header.Length);
            if (stream is null && IsIdle(header.StreamId))
                throw new Http2ConnectionException(Http2Error.ProtocolError, "DATA on an idle stream");
            if (stream is not null || !RecentlyReset(header.StreamId))
                OnStreamError(header.StreamId, Http2Error.StreamClosed);
            return;
        }
        if (Interlocked.Add(ref stream.ReceiveWindow, -header.Length) < 0)
        {
            GiveBack(header.Length);
            ResetStream(stream, Http2Error.FlowControlError);
            return;
        }
        var end = header.Has(FrameFlags.EndStream);
        var padding = header.Length - data.Length;
        if (padding > 0)
            GiveBack(padding);
        if (stream.DeclaredLength >= 0 && (stream.Input.Received + data.Length > stream.DeclaredLength
            || (end && stream.Input.Received + data.Length != stream.DeclaredLength)))
        {
            GiveBack(data.Length);
            ResetStream(stream, Http2Error.ProtocolError);
            return;
        }
        if (!stream.Input.Append(data, end))
            GiveBack(data.Length);
        if (end)
            stream.OnRemoteEnded();
    }

    /// <summary>A stream id nobody opened yet (RFC 9113 5.1: idle).</summary>
    protected bool IsIdle(int streamId) => IsPeerStreamId(streamId) ? streamId > HighestStreamId : LocalStreamIdle(streamId);

    /// <summary>Whether a stream id of our own side was never used (the client opens them; a server never does).</summary>
    protected abstract bool LocalStreamIdle(int streamId);

    // Streams we reset recently: frames the peer sent before it saw our RST_STREAM are dropped quietly.
    private readonly int[] _recentResets = new int[32];
    private int _recentResetAt;

    protected void RememberReset(int streamId)
    {
        _recentResets[_recentResetAt] = streamId;
        _recentResetAt = (_recentResetAt + 1) % _recentResets.Length;
    }

    private bool RecentlyReset(int streamId) => Array.IndexOf(_recentResets, streamId) >= 0;

    private void OnHeadersFrame(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        var streamId = header.StreamId;
        if (streamId == 0)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "HEADERS on stream 0");
        var fragment = Unpad(header, payload);
        var selfDependent = false;
        if (header.Has(FrameFlags.Priority))
        {
            if (fragment.Length < 5)
                throw new Http2ConnectionException(Http2Error.FrameSizeError, "HEADERS too short for its priority");
            selfDependent = (int)(BinaryPrimitives.ReadUInt32BigEndian(fragment) & 0x7FFFFFFF) == streamId;
            fragment = fragment[5..];
        }
        var endStream = header.Has(FrameFlags.EndStream);
        IHeaderBlockTarget target;
        if (FindStream(streamId) is { } stream)
        {
            // More headers of an open stream: trailers (or, on the client, the final head after a 1xx).
            target = stream.RemoteEnded ? _drop.For(streamId, Http2Error.StreamClosed) : stream.BeginHeaders(endStream);
        }
        else if (streamId > HighestStreamId && IsPeerStreamId(streamId))
        {
            HighestStreamId = streamId;
            target = OpenStream(streamId, endStream);
        }
        else if (IsPeerStreamId(streamId) && RecentlyReset(streamId))
        {
            target = _drop.For(streamId, Http2Error.NoError);
        }
        else if (!IsPeerStreamId(streamId) && !LocalStreamIdle(streamId))
        {
            // A stream of ours that ended (we reset it, say, at its deadline): what the peer sent before it knew is ignored (RFC 9113 5.1).
            target = _drop.For(streamId, Http2Error.NoError);
        }
        else if (IsPeerStreamId(streamId))
        {
            // RFC 9113 5.1.1: a new stream's id must exceed every id used before.
            throw new Http2ConnectionException(Http2Error.ProtocolError, "HEADERS on stream " + streamId + ", below a stream already opened");
        }
        else
        {
            throw new Http2ConnectionException(Http2Error.ProtocolError, "HEADERS on stream " + streamId + ", which the peer may not open");
        }
        // RFC 9113 5.3.1: a stream depending on itself is a stream error; its block still feeds HPACK.
        if (selfDependent)
        {
            target.Abandon();
            target = _drop.For(streamId, Http2Error.ProtocolError);
        }
        _blockTarget = target;
        _blockStream = streamId;
        _blockEndStream = endStream;
        _blockLength = 0;
        _decoded = 0;
        _firstFragment = true;
        if (!header.Has(FrameFlags.EndHeaders))
            OnBlockStarted();
        Feed(fragment, header.Has(FrameFlags.EndHeaders));
    }

    private void OnContinuation(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (_blockStream == 0 || header.StreamId != _blockStream)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "CONTINUATION without a header block to continue");
        Feed(payload, header.Has(FrameFlags.EndHeaders));
    }

    private IHeaderBlockTarget? _blockTarget;
    private int _decoded;                 // decoded bytes of the block so far (RFC 9113's measure)
    private bool _firstFragment;
    private readonly DropTarget _drop;

    /// <summary>
    /// Decodes a fragment of the block as it arrives (fields that are complete; the rest waits for the
    /// next fragment), so limits act on what a block holds at once: a block that never ends is cut at
    /// twice the header list, a flood of tiny fields at four times the field count (CVE-2024-27316).
    /// </summary>
    private void Feed(ReadOnlySpan<byte> fragment, bool final)
    {
        var target = _blockTarget!;
        ReadOnlySpan<byte> input;
        if (_blockLength == 0)
        {
            input = fragment;
        }
        else
        {
            AppendBlock(fragment);
            input = _block.AsSpan(0, _blockLength);
        }
        var hardLimit = Local.MaxHeaderList * 2;
        var result = Decoder.Decode(input, target, hardLimit - _decoded, blockStart: _firstFragment, final, out var consumed, out var decoded);
        _firstFragment = false;
        _decoded += decoded;
        ThrowIfDecodeFailed(result);
        if (target.Fields > Local.MaxHeaderCount * 4)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "a header block with far more fields than the limit");
        if (!final)
        {
            var rest = input[consumed..];
            if (rest.Length > hardLimit)
                throw new Http2ConnectionException(Http2Error.CompressionError, "one header field past twice the header list limit");
            if (_blockLength == 0)
            {
                AppendBlock(rest);
            }
            else
            {
                rest.CopyTo(_block);
                _blockLength = rest.Length;
            }
            return;
        }
        _blockStream = 0;
        _blockTarget = null;
        _blockLength = 0;
        if (_block.Length > 64 * 1024)
        {
            ArrayPool<byte>.Shared.Return(_block);
            _block = [];
        }
        OnBlockEnded();
        target.OnBlockEnd(_blockEndStream);
    }

    private void AppendBlock(ReadOnlySpan<byte> fragment)
    {
        var needed = _blockLength + fragment.Length;
        if (_block.Length < needed)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 4096));
            _block.AsSpan(0, _blockLength).CopyTo(bigger);
            if (_block.Length != 0)
                ArrayPool<byte>.Shared.Return(_block);
            _block = bigger;
        }
        fragment.CopyTo(_block.AsSpan(_blockLength));
        _blockLength = needed;
    }

    /// <summary>A header block began without its end (the side may start a timeout).</summary>
    protected virtual void OnBlockStarted()
    {
    }

    /// <summary>A header block ended.</summary>
    protected virtual void OnBlockEnded()
    {
    }

    protected static void ThrowIfDecodeFailed(HpackError result)
    {
        if (result == HpackError.Compression)
            throw new Http2ConnectionException(Http2Error.CompressionError, "a malformed header block");
        if (result == HpackError.ListTooLarge)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "a header block past twice the header list limit");
    }

    /// <summary>A header block opening a stream the peer may open (server: a request; the client refuses: push is off).</summary>
    protected abstract IHeaderBlockTarget OpenStream(int streamId, bool endStream);

    /// <summary>Where the fields of a block go that nobody wants: they only keep HPACK's table in step; at the end the stream is reset with the code, if any.</summary>
    protected IHeaderBlockTarget Drop(int streamId, Http2Error reset) => _drop.For(streamId, reset);

    private void OnRstStream(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.StreamId == 0)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "RST_STREAM on stream 0");
        if (payload.Length != 4)
            throw new Http2ConnectionException(Http2Error.FrameSizeError, "RST_STREAM not 4 bytes");
        if (IsIdle(header.StreamId))
            throw new Http2ConnectionException(Http2Error.ProtocolError, "RST_STREAM on an idle stream");
        if (FindStream(header.StreamId) is not { } stream)
            return;
        var error = (Http2Error)BinaryPrimitives.ReadUInt32BigEndian(payload);
        stream.Output.Abort();
        // NO_ERROR after the peer's END_STREAM: it answered in full and needs no more of ours (RFC 9113 8.1);
        // what it sent stays readable.
        if (error != Http2Error.NoError || !stream.RemoteEnded)
            stream.Input.Fail(new IOException("the peer reset the stream (" + error + ")"));
        stream.OnReset(error, connectionLost: false);
        CloseStream(stream);
    }

    private void OnSettings(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.StreamId != 0)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "SETTINGS on a stream");
        if (header.Has(FrameFlags.Ack))
        {
            if (payload.Length != 0)
                throw new Http2ConnectionException(Http2Error.FrameSizeError, "SETTINGS ACK with a payload");
            return;
        }
        if (payload.Length % 6 != 0)
            throw new Http2ConnectionException(Http2Error.FrameSizeError, "SETTINGS not a multiple of 6 bytes");
        if (Output.Congested)
            throw new Http2ConnectionException(Http2Error.EnhanceYourCalm, "SETTINGS while the acknowledgements of earlier ones are not read");
        OnSettingsFrame();
        for (var at = 0; at < payload.Length; at += 6)
        {
            var id = (SettingId)BinaryPrimitives.ReadUInt16BigEndian(payload[at..]);
            var value = BinaryPrimitives.ReadUInt32BigEndian(payload[(at + 2)..]);
            switch (id)
            {
                case SettingId.EnablePush:
                    if (value > 1)
                        throw new Http2ConnectionException(Http2Error.ProtocolError, "SETTINGS_ENABLE_PUSH other than 0 or 1");
                    break;
                case SettingId.InitialWindowSize:
                    if (value > Http2Protocol.MaxWindow)
                        throw new Http2ConnectionException(Http2Error.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1");
                    ChangeInitialWindow((int)value);
                    break;
                case SettingId.MaxFrameSize:
                    if (value is < Http2Protocol.DefaultMaxFrame or > Http2Protocol.MaxFrameUpperBound)
                        throw new Http2ConnectionException(Http2Error.ProtocolError, "SETTINGS_MAX_FRAME_SIZE out of range");
                    lock (Output.Gate)
                        Output.PeerMaxFrame = (int)value;
                    break;
                case SettingId.MaxConcurrentStreams:
                    OnPeerMaxConcurrentStreams(value);
                    break;
                default:
                    break;            // the header table (we never index), the header list (ours are bounded), unknown ids
            }
        }
        lock (Output.Gate)
            Output.WriteSettingsLocked([], ack: true);
        Output.Flush();
        OnSettingsApplied();
    }

    /// <summary>The peer sent SETTINGS (not an ACK): a flood guard may count it.</summary>
    protected virtual void OnSettingsFrame()
    {
    }

    /// <summary>The peer's SETTINGS are in force (and acknowledged).</summary>
    protected virtual void OnSettingsApplied()
    {
    }

    protected virtual void OnPeerMaxConcurrentStreams(uint value)
    {
    }

    private void ChangeInitialWindow(int value)
    {
        Http2Stream[] streams;
        int delta;
        lock (Output.Gate)
        {
            delta = value - Output.PeerInitialWindow;
            Output.PeerInitialWindow = value;
        }
        if (delta == 0)
            return;
        lock (_streamsGate)
            streams = [.. _streams.Values];
        foreach (var stream in streams)
        {
            bool ok;
            lock (Output.Gate)
                ok = stream.Output.AdjustWindowLocked(delta);
            if (!ok)
                throw new Http2ConnectionException(Http2Error.FlowControlError, "a stream's window past 2^31-1");
            if (delta > 0)
                stream.Output.OnWindowOpened();
        }
    }

    private void OnPing(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.StreamId != 0)
            throw new Http2ConnectionException(Http2Error.ProtocolError, "PING on a stream");
        if (payload.Length != 8)
            throw new Http2ConnectionException(Http2Error.FrameSizeError, "PING not 8 bytes");
        if (header.Has(FrameFlags.Ack))
            return;
        if (Output.Congested)
            throw new Http2ConnectionException(Http2Error.EnhanceYourCalm, "PINGs while the answers to earlier ones are not read");
        OnPingFrame();
        lock (Output.Gate)
            Output.WritePingLocked(ack: true, payload);
        Output.Flush();
    }

    /// <summary>The peer sent a PING (not an ACK): a flood guard may count it.</summary>
    protected virtual void OnPingFrame()
    {
    }

    /// <summary>The peer's GOAWAY: streams above <paramref name="lastStreamId"/> were not processed.</summary>
    protected abstract void OnGoAway(int lastStreamId, Http2Error error);

    private void OnWindowUpdate(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
            throw new Http2ConnectionException(Http2Error.FrameSizeError, "WINDOW_UPDATE not 4 bytes");
        var increment = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF);
        if (header.StreamId == 0)
        {
            if (increment == 0)
                throw new Http2ConnectionException(Http2Error.ProtocolError, "WINDOW_UPDATE of 0 on the connection");
            lock (Output.Gate)
            {
                if ((long)Output.ConnectionWindow + increment > Http2Protocol.MaxWindow)
                    throw new Http2ConnectionException(Http2Error.FlowControlError, "the connection's window past 2^31-1");
                Output.ConnectionWindow += increment;
            }
            Output.OnConnectionWindowOpened();
            return;
        }
        if (IsIdle(header.StreamId))
            throw new Http2ConnectionException(Http2Error.ProtocolError, "WINDOW_UPDATE on an idle stream");
        if (FindStream(header.StreamId) is not { } stream)
            return;
        if (increment == 0)
        {
            ResetStream(stream, Http2Error.ProtocolError);
            return;
        }
        if (!stream.Output.AddWindow(increment))
            ResetStream(stream, Http2Error.FlowControlError);
    }

    // ------------------------------------------------------------------ credit

    /// <summary>Connection credit for bytes nobody will read (padding, DATA of a closed stream).</summary>
    private void GiveBack(int bytes)
    {
        if (bytes <= 0)
            return;
        bool flush;
        lock (Output.Gate)
            flush = ReturnConnectionCreditLocked(bytes);
        if (flush)
            Output.Flush();
    }

    private bool ReturnConnectionCreditLocked(int bytes)
    {
        _unreturned += bytes;
        // Given back in quarters of the window: few WINDOW_UPDATEs, and a fast sender never runs dry.
        if (_unreturned < Local.ConnectionWindow / 4)
            return false;
        var credit = _unreturned;
        _unreturned = 0;
        Output.WriteWindowUpdateLocked(0, credit);
        Interlocked.Add(ref _receiveWindow, credit);
        return true;
    }

    void StreamInput.IOwner.OnConsumed(StreamInput input, int bytes, bool streamEnded)
    {
        var stream = FindStream(input.StreamId);
        bool flush;
        lock (Output.Gate)
        {
            flush = ReturnConnectionCreditLocked(bytes);
            if (stream is not null && !streamEnded && !stream.RemoteEnded && ReferenceEquals(stream.Input, input))
            {
                stream.Unreturned += bytes;
                if (stream.Unreturned >= Local.InitialWindow / 4)
                {
                    var credit = stream.Unreturned;
                    stream.Unreturned = 0;
                    Output.WriteWindowUpdateLocked(stream.Id, credit);
                    Interlocked.Add(ref stream.ReceiveWindow, credit);
                    flush = true;
                }
            }
        }
        if (flush)
            Output.Flush();
    }

    /// <summary>Fields nobody wants: counted, then the stream is reset with the code given (none: nothing).</summary>
    private sealed class DropTarget(Http2Connection connection) : IHeaderBlockTarget
    {
        private int _streamId;
        private Http2Error _reset;

        public int Fields { get; private set; }

        public DropTarget For(int streamId, Http2Error reset)
        {
            _streamId = streamId;
            _reset = reset;
            Fields = 0;
            return this;
        }

        public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Fields++;

        public void OnBlockEnd(bool endStream)
        {
            if (_reset != Http2Error.NoError)
                connection.OnStreamError(_streamId, _reset);
        }

        public void Abandon()
        {
        }
    }
}

/// <summary>Where a header block's fields go as they are decoded, and what happens at its end.</summary>
internal interface IHeaderBlockTarget : IHeaderFieldSink
{
    /// <summary>Fields seen so far (a flood guard counts them).</summary>
    int Fields { get; }

    /// <summary>The block is complete and the connection's rules held.</summary>
    void OnBlockEnd(bool endStream);

    /// <summary>The block will not be used (its stream got an error): what was made for it is let go.</summary>
    void Abandon();
}
