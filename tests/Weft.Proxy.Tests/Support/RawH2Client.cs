using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Weft.Proxy.Tests.Support;

/// <summary>
/// An h2c prior-knowledge client that writes exactly the frames a test asks for (abusive ones included)
/// and records what the server answers, which HttpClient hides: its SETTINGS, RST_STREAMs, GOAWAY,
/// response statuses and ends per stream, every frame in order (<see cref="Frames"/>), and when and how
/// the connection closed. A background reader acknowledges SETTINGS and PINGs and keeps the connection
/// window open (unless <see cref="ReturnsConnectionCredit"/> is off); tests wait on what it recorded
/// with <see cref="Eventually"/>.
/// Flow control both ways: the credit this client gives (its SETTINGS, <see cref="GrantAsync"/>) is
/// checked against every DATA frame (<see cref="FlowControlViolation"/>); the credit the server gives
/// (<see cref="CreditFrom"/>) is what <see cref="SendDataAsync"/> waits for.
/// </summary>
internal sealed class RawH2Client : IAsyncDisposable
{
    public const byte Data = 0x0, Headers = 0x1, Priority = 0x2, RstStream = 0x3, Settings = 0x4, PushPromise = 0x5, Ping = 0x6, GoAwayType = 0x7,
        WindowUpdate = 0x8, Continuation = 0x9;
    public const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4, Padded = 0x8, PriorityFlag = 0x20;
    public const uint NoError = 0x0, ProtocolError = 0x1, InternalError = 0x2, FlowControlError = 0x3, StreamClosed = 0x5, FrameSizeError = 0x6,
        RefusedStream = 0x7, Cancel = 0x8, CompressionError = 0x9, EnhanceYourCalm = 0xb;
    public const ushort SettingsHeaderTableSize = 0x1, SettingsEnablePush = 0x2, SettingsMaxConcurrentStreams = 0x3, SettingsInitialWindowSize = 0x4,
        SettingsMaxFrameSize = 0x5, SettingsMaxHeaderListSize = 0x6;
    /// <summary>The protocol's initial flow-control window, of the connection and of every stream until SETTINGS change it.</summary>
    public const int DefaultWindow = 65_535;

    public static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
    // Large enough that no response in these tests waits on the client's flow control.
    private const int ClientWindow = 16 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<int, uint> _resets = new();
    private readonly ConcurrentDictionary<int, int> _statuses = new();
    private readonly ConcurrentDictionary<int, bool> _ended = new();
    private readonly ConcurrentDictionary<int, MemoryStream> _bodies = new();
    private readonly ConcurrentDictionary<int, string> _headerBlocks = new();
    private readonly ConcurrentQueue<ServerFrame> _frames = new();
    // Flow control, stream 0 being the connection: what this client allowed the server to send and what it sent...
    private readonly ConcurrentDictionary<int, long> _creditGiven = new();
    private readonly ConcurrentDictionary<int, long> _received = new();
    // ...and what the server allowed this client to send (WINDOW_UPDATEs) and what it sent.
    private readonly ConcurrentDictionary<int, long> _creditReceived = new();
    private readonly ConcurrentDictionary<int, long> _sent = new();
    private readonly int _streamWindow;
    private TaskCompletionSource _creditArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reading;
    private volatile string? _flowControlViolation;
    private volatile bool _waitingForCredit;
    private volatile IReadOnlyDictionary<ushort, uint>? _serverSettings;
    private volatile GoAwayFrame? _goAway;
    private volatile bool _closed;
    private volatile bool _reset;
    private long _closedAtTicks;

    private RawH2Client(Socket socket, int streamWindow, int connectionWindow)
    {
        _socket = socket;
        _streamWindow = streamWindow;
        _creditGiven[0] = connectionWindow;
        _reading = Task.Run(ReadLoopAsync);
    }

    public sealed record GoAwayFrame(int LastStreamId, uint ErrorCode);

    /// <summary>A frame as the server sent it. DATA frames keep their length only (their content: <see cref="BodyOf"/>).</summary>
    public sealed record ServerFrame(byte Type, byte Flags, int StreamId, int Length, byte[] Payload);

    /// <summary>Every frame the server sent so far, in order.</summary>
    public IReadOnlyList<ServerFrame> Frames => _frames.ToArray();

    /// <summary>
    /// Whether DATA received is credited back on the connection at once (the default). Off, the client
    /// is a reader that stopped: the server may send only what <see cref="GrantAsync"/> allows.
    /// </summary>
    public bool ReturnsConnectionCredit { get; set; } = true;

    /// <summary>
    /// The first DATA frame the server sent past the credit this client gave (its initial windows,
    /// <see cref="GrantAsync"/>, the automatic connection credit), described; null while there was none.
    /// Only meaningful for a client whose windows <see cref="ConnectAsync"/> set.
    /// </summary>
    public string? FlowControlViolation => _flowControlViolation;

    /// <summary>Flow-controlled bytes (DATA payloads, padding included) received on a stream, or on the connection for 0.</summary>
    public long ReceivedOf(int streamId) => _received.GetValueOrDefault(streamId);

    /// <summary>Credit given to the server on a stream, or on the connection for 0: the initial window and every increment since.</summary>
    public long CreditGivenOn(int streamId) => _creditGiven.GetValueOrDefault(streamId, _streamWindow);

    /// <summary>The sum of the WINDOW_UPDATE increments the server sent for a stream, or for the connection (0).</summary>
    public long CreditFrom(int streamId) => _creditReceived.GetValueOrDefault(streamId);

    /// <summary>Flow-controlled bytes this client sent with <see cref="SendDataAsync"/> on a stream, or on the connection (0).</summary>
    public long SentOf(int streamId) => _sent.GetValueOrDefault(streamId);

    /// <summary><see cref="SendDataAsync"/> has bytes left but no window to send them in.</summary>
    public bool WaitingForCredit => _waitingForCredit;

    /// <summary>The server's first SETTINGS (null until it arrived).</summary>
    public IReadOnlyDictionary<ushort, uint>? ServerSettings => _serverSettings;

    public GoAwayFrame? GoAway => _goAway;

    /// <summary>The server closed (or reset) the TCP connection.</summary>
    public bool Closed => _closed;

    /// <summary>The server closed with a TCP reset (an abort), not a FIN.</summary>
    public bool Reset => _reset;

    /// <summary>When <see cref="Closed"/> turned true (Stopwatch ticks).</summary>
    public long ClosedAt => Interlocked.Read(ref _closedAtTicks);

    public int ResetCount(uint errorCode) => _resets.Values.Count(e => e == errorCode);

    public uint? ResetOf(int streamId) => _resets.TryGetValue(streamId, out var e) ? e : null;

    /// <summary>The response's :status (null until its HEADERS arrived).</summary>
    public int? StatusOf(int streamId) => _statuses.TryGetValue(streamId, out var s) ? s : null;

    public bool Ended(int streamId) => _ended.ContainsKey(streamId);

    /// <summary>The DATA a stream's response carried so far (no padding), as Latin-1 text.</summary>
    public string BodyOf(int streamId) => Encoding.Latin1.GetString(BodyBytesOf(streamId));

    /// <summary>The DATA a stream's response carried so far (no padding).</summary>
    public byte[] BodyBytesOf(int streamId)
    {
        if (!_bodies.TryGetValue(streamId, out var body))
            return [];
        lock (body)
            return body.ToArray();
    }

    /// <summary>The length of <see cref="BodyBytesOf"/>, without copying it.</summary>
    public long BodyLengthOf(int streamId)
    {
        if (!_bodies.TryGetValue(streamId, out var body))
            return 0;
        lock (body)
            return body.Length;
    }

    /// <summary>
    /// The response's first header block as Latin-1 text, undecoded (null until it arrived). Kestrel
    /// writes HPACK strings without Huffman coding, so a literal field shows as its length-prefixed name
    /// and value.
    /// </summary>
    public string? HeaderBlockOf(int streamId) => _headerBlocks.TryGetValue(streamId, out var block) ? block : null;

    /// <summary>One GET with exactly this :path (nothing normalizes it on the way): its status and body once the stream ended.</summary>
    public async Task<(int Status, string Body)> GetAsync(string path, int streamId = 1)
    {
        await SendAsync(Get(streamId, path));
        await Eventually.TrueAsync(() => Task.FromResult(Ended(streamId) || ResetOf(streamId) is not null || Closed), "the response to " + path);
        return (StatusOf(streamId) ?? 0, BodyOf(streamId));
    }

    /// <summary>
    /// Connects; with <paramref name="greet"/>, sends the preface, SETTINGS (SETTINGS_INITIAL_WINDOW_SIZE
    /// <paramref name="streamWindow"/>) and a connection WINDOW_UPDATE up to <paramref name="connectionWindow"/>:
    /// 16 MB each unless given, so that no response waits on this client's credit.
    /// </summary>
    public static async Task<RawH2Client> ConnectAsync(int port, bool greet = true, int streamWindow = ClientWindow, int connectionWindow = ClientWindow)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var client = greet ? new RawH2Client(socket, streamWindow, Math.Max(connectionWindow, DefaultWindow)) : new RawH2Client(socket, DefaultWindow, DefaultWindow);
        if (greet)
        {
            var greeting = Concat(Preface, SettingsFrame((SettingsInitialWindowSize, (uint)streamWindow)));
            if (connectionWindow > DefaultWindow)
                greeting = Concat(greeting, WindowUpdateFrame(0, connectionWindow - DefaultWindow));
            await client.SendAsync(greeting);
        }
        return client;
    }

    /// <summary>Gives the server <paramref name="increment"/> bytes more to send on a stream (or the connection, 0), and counts it.</summary>
    public Task GrantAsync(int streamId, int increment)
    {
        _creditGiven.AddOrUpdate(streamId, _ => (streamId == 0 ? DefaultWindow : _streamWindow) + (long)increment, (_, c) => c + increment);
        return SendAsync(WindowUpdateFrame(streamId, increment));
    }

    /// <summary>
    /// <paramref name="data"/> as DATA frames on a stream, each as large as the server's SETTINGS_MAX_FRAME_SIZE
    /// and the windows allow, waiting for the server's WINDOW_UPDATEs when they are spent (as any
    /// client must); END_STREAM on the last frame when <paramref name="endStream"/>. The server's first
    /// SETTINGS must have arrived: later changes to its initial window are not followed.
    /// </summary>
    public async Task SendDataAsync(int streamId, ReadOnlyMemory<byte> data, bool endStream, CancellationToken cancel = default)
    {
        var settings = ServerSettings ?? throw new InvalidOperationException("the server's SETTINGS have not arrived");
        var streamWindow = settings.GetValueOrDefault(SettingsInitialWindowSize, (uint)DefaultWindow);
        var maxFrame = (int)settings.GetValueOrDefault(SettingsMaxFrameSize, 16_384u);
        do
        {
            var credit = Volatile.Read(ref _creditArrived);
            var window = Math.Min(streamWindow + CreditFrom(streamId) - SentOf(streamId), DefaultWindow + CreditFrom(0) - SentOf(0));
            if (window <= 0 && !data.IsEmpty)
            {
                if (Closed)
                    throw new IOException("the server closed the connection");
                _waitingForCredit = true;
                try
                {
                    await credit.Task.WaitAsync(cancel);
                }
                finally
                {
                    _waitingForCredit = false;
                }
                continue;
            }
            var n = (int)Math.Min(Math.Min(window, maxFrame), data.Length);
            var last = n == data.Length;
            _sent.AddOrUpdate(streamId, n, (_, s) => s + n);
            _sent.AddOrUpdate(0, n, (_, s) => s + n);
            await SendAsync(Frame(Data, last && endStream ? EndStream : (byte)0, streamId, data.Span[..n]));
            data = data[n..];
        }
        while (!data.IsEmpty);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        await _writeLock.WaitAsync();
        try
        {
            while (!bytes.IsEmpty)
            {
                var n = await _socket.SendAsync(bytes, SocketFlags.None);
                bytes = bytes[n..];
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Like <see cref="SendAsync"/>, but false instead of an exception once the server closed the connection.</summary>
    public async Task<bool> TrySendAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            await SendAsync(bytes);
            return true;
        }
        catch (SocketException e)
        {
            // The socket reports a reset once, to whichever call meets it first.
            if (e.SocketErrorCode == SocketError.ConnectionReset)
                _reset = true;
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    public static byte[] Frame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    public static byte[] RstStreamFrame(int streamId, uint errorCode)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, errorCode);
        return Frame(RstStream, 0, streamId, payload);
    }

    public static byte[] WindowUpdateFrame(int streamId, int increment)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, increment);
        return Frame(WindowUpdate, 0, streamId, payload);
    }

    /// <summary>A SETTINGS frame (not an ACK) with these parameters, in this order.</summary>
    public static byte[] SettingsFrame(params (ushort Id, uint Value)[] settings)
    {
        var payload = new byte[6 * settings.Length];
        for (var i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(6 * i), settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(6 * i + 2), settings[i].Value);
        }
        return Frame(Settings, 0, 0, payload);
    }

    /// <summary>
    /// An HPACK block of exactly these fields in this order, each a literal without indexing with a new
    /// name (pseudo-header names too): whatever the fields say, the block means the same on any connection.
    /// </summary>
    public static byte[] FieldBlock(params (string Name, string Value)[] fields)
    {
        var block = new List<byte>();
        foreach (var (name, value) in fields)
            Literal(block, name, value);
        return [.. block];
    }

    /// <summary>A complete GET (HEADERS with END_HEADERS and END_STREAM).</summary>
    public static byte[] Get(int streamId, string path) => Frame(Headers, EndHeaders | EndStream, streamId, RequestBlock(path));

    /// <summary>
    /// The HPACK block of a GET: :method GET and :scheme http from the static table, :path and
    /// :authority as literals without indexing (so the block means the same on any connection).
    /// </summary>
    public static byte[] RequestBlock(string path, string authority = "test")
    {
        var block = new List<byte> { 0x82, 0x86 };
        LiteralIndexedName(block, 4, path);
        LiteralIndexedName(block, 1, authority);
        return [.. block];
    }

    /// <summary>Literal field without indexing, new name (RFC 7541 6.2.2), no Huffman.</summary>
    public static void Literal(List<byte> block, string name, string value)
    {
        block.Add(0x00);
        String(block, name);
        String(block, value);
    }

    /// <summary>The start of a literal field without indexing whose value announces <paramref name="valueLength"/> bytes; the value itself is the caller's.</summary>
    public static void LiteralStart(List<byte> block, string name, int valueLength)
    {
        block.Add(0x00);
        String(block, name);
        Integer(block, 0x00, 7, valueLength);
    }

    /// <summary>Literal field with incremental indexing, new name (RFC 7541 6.2.1): it enters the dynamic table at index 62.</summary>
    public static void LiteralIndexed(List<byte> block, string name, string value)
    {
        block.Add(0x40);
        String(block, name);
        String(block, value);
    }

    /// <summary>Indexed field (RFC 7541 6.1): 62 is the newest dynamic table entry.</summary>
    public static void Indexed(List<byte> block, int index) => Integer(block, 0x80, 7, index);

    private static void LiteralIndexedName(List<byte> block, int nameIndex, string value)
    {
        Integer(block, 0x00, 4, nameIndex);
        String(block, value);
    }

    // Latin-1, one byte per char: a test can put any byte in a name or value (NUL, CR, LF, 0x80-0xff).
    private static void String(List<byte> block, string value)
    {
        var bytes = Encoding.Latin1.GetBytes(value);
        Integer(block, 0x00, 7, bytes.Length);
        block.AddRange(bytes);
    }

    /// <summary>RFC 7541 5.1 integer with an N-bit prefix; <paramref name="first"/> carries the pattern bits above it.</summary>
    private static void Integer(List<byte> block, byte first, int prefixBits, int value)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max)
        {
            block.Add((byte)(first | value));
            return;
        }
        block.Add((byte)(first | max));
        value -= max;
        while (value >= 128)
        {
            block.Add((byte)((value & 0x7f) | 0x80));
            value >>= 7;
        }
        block.Add((byte)value);
    }

    public static byte[] Concat(params byte[][] parts)
    {
        var all = new byte[parts.Sum(p => p.Length)];
        var at = 0;
        foreach (var part in parts)
        {
            part.CopyTo(all, at);
            at += part.Length;
        }
        return all;
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var (type, flags, streamId, payload) = await ReadFrameAsync(_socket, _stop.Token);
                _frames.Enqueue(new ServerFrame(type, flags, streamId, payload.Length, type == Data ? [] : payload));
                await OnFrameAsync(type, flags, streamId, payload);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            _reset = true;
        }
        catch (Exception)
        {
            // EOF, reset or disposal: the connection is over for this client.
        }
        finally
        {
            Interlocked.Exchange(ref _closedAtTicks, System.Diagnostics.Stopwatch.GetTimestamp());
            _closed = true;
            _creditArrived.TrySetResult();
        }
    }

    /// <summary>The next whole frame from a peer's socket (this client's server, or <see cref="RawH2Server"/>'s proxy); EndOfStreamException at its end.</summary>
    public static async Task<(byte Type, byte Flags, int StreamId, byte[] Payload)> ReadFrameAsync(Socket socket, CancellationToken cancel = default)
    {
        var head = new byte[9];
        await ReadExactlyAsync(socket, head, cancel);
        var payload = new byte[(head[0] << 16) | (head[1] << 8) | head[2]];
        await ReadExactlyAsync(socket, payload, cancel);
        return (head[3], head[4], BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(5)) & int.MaxValue, payload);
    }

    public static async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancel = default)
    {
        while (!buffer.IsEmpty)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancel);
            if (n == 0)
                throw new EndOfStreamException();
            buffer = buffer[n..];
        }
    }

    private async Task OnFrameAsync(byte type, byte flags, int streamId, byte[] payload)
    {
        switch (type)
        {
            case Settings when (flags & Ack) == 0:
                var settings = new Dictionary<ushort, uint>();
                for (var i = 0; i + 6 <= payload.Length; i += 6)
                    settings[BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
                // Acknowledged first: a test that waited for these may then start a header block, which no other frame may interrupt.
                await TrySendAsync(Frame(Settings, Ack, 0, []));
                _serverSettings ??= settings;
                break;
            case Ping when (flags & Ack) == 0:
                await TrySendAsync(Frame(Ping, Ack, 0, payload));
                break;
            case GoAwayType:
                _goAway = new GoAwayFrame(BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue, BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)));
                break;
            case RstStream:
                _resets[streamId] = BinaryPrimitives.ReadUInt32BigEndian(payload);
                break;
            case Headers:
                if (!_statuses.ContainsKey(streamId) && StatusIn(payload, flags) is { } status)
                    _statuses[streamId] = status;
                _headerBlocks.TryAdd(streamId, Encoding.Latin1.GetString(payload));
                break;
            case Data:
                OnData(streamId, flags, payload);
                if (payload.Length > 0 && ReturnsConnectionCredit)
                {
                    _creditGiven.AddOrUpdate(0, payload.Length, (_, c) => c + payload.Length);
                    await TrySendAsync(WindowUpdateFrame(0, payload.Length));
                }
                break;
            case WindowUpdate when payload.Length == 4:
                var increment = BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue;
                _creditReceived.AddOrUpdate(streamId, increment, (_, c) => c + increment);
                Interlocked.Exchange(ref _creditArrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                break;
        }
        if (type is Headers or Data && (flags & EndStream) != 0)
            _ended[streamId] = true;
    }

    private void OnData(int streamId, byte flags, byte[] payload)
    {
        var received = _received.AddOrUpdate(streamId, payload.Length, (_, r) => r + payload.Length);
        var onConnection = _received.AddOrUpdate(0, payload.Length, (_, r) => r + payload.Length);
        if (_flowControlViolation is null && (received > CreditGivenOn(streamId) || onConnection > CreditGivenOn(0)))
        {
            _flowControlViolation = $"DATA of {payload.Length} bytes on stream {streamId}: {received} received on it of {CreditGivenOn(streamId)} allowed, "
                + $"{onConnection} on the connection of {CreditGivenOn(0)} allowed";
        }
        var content = payload.AsSpan();
        if ((flags & Padded) != 0 && content.Length > 0)
            content = content[1..Math.Max(1, content.Length - payload[0])];
        var body = _bodies.GetOrAdd(streamId, _ => new MemoryStream());
        lock (body)
            body.Write(content);
    }

    /// <summary>
    /// :status from a response header block, the way Kestrel writes it: first field, no padding or
    /// priority, either a static-table entry (200, 204, 206, 304, 400, 404, 500) or a literal with the
    /// static name :status and a plain 3-digit value. A dynamic table size update may come first.
    /// </summary>
    private static int? StatusIn(byte[] block, byte flags)
    {
        if ((flags & 0x28) != 0)
            return null;
        var i = 0;
        while (i < block.Length && (block[i] & 0xe0) == 0x20)
            ReadInteger(block, ref i, 5);
        if (i >= block.Length)
            return null;
        if ((block[i] & 0x80) != 0)
        {
            return ReadInteger(block, ref i, 7) switch
            {
                8 => 200, 9 => 204, 10 => 206, 11 => 304, 12 => 400, 13 => 404, 14 => 500,
                _ => null,
            };
        }
        var nameIndex = ReadInteger(block, ref i, (block[i] & 0x40) != 0 ? 6 : 4);
        if (nameIndex is < 8 or > 14 || i + 4 > block.Length || block[i] != 3)
            return null;
        return int.Parse(Encoding.ASCII.GetString(block, i + 1, 3));
    }

    private static int ReadInteger(byte[] block, ref int i, int prefixBits)
    {
        var max = (1 << prefixBits) - 1;
        var value = block[i++] & max;
        if (value < max)
            return value;
        for (var shift = 0; i < block.Length; shift += 7)
        {
            var b = block[i++];
            value += (b & 0x7f) << shift;
            if ((b & 0x80) == 0)
                break;
        }
        return value;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        try { await _reading; } catch (Exception) { }
        _stop.Dispose();
        _writeLock.Dispose();
    }
}
