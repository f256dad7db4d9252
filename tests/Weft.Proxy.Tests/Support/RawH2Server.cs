using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Weft.Proxy.Codecs.Http2.Hpack;
using static Weft.Proxy.Tests.Support.RawH2Client;

namespace Weft.Proxy.Tests.Support;

/// <summary>
/// A scripted h2c (prior knowledge) upstream on a real loopback socket, to watch the proxy's HTTP/2
/// client from the app's side, which a Kestrel backend hides: the connections the proxy opens (in order),
/// each request stream with its :path, connection and DATA, and every frame both ways (<see cref="Log"/>).
/// Each request goes to the test's policy on its own task; the policy answers, refuses (REFUSED_STREAM),
/// holds until the test releases it, or sends its connection a GOAWAY. Like Kestrel, a stream past this
/// server's SETTINGS_MAX_CONCURRENT_STREAMS is refused without reaching the policy, and counted
/// (<see cref="Request.OverLimit"/>). Every DATA byte is credited back at once, so request bodies flow.
/// </summary>
internal sealed class RawH2Server : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<Request, Task> _policy;
    private readonly byte[] _settings;
    private readonly uint _maxStreams;
    private readonly List<Connection> _connections = [];
    private readonly List<Request> _requests = [];
    private readonly ConcurrentQueue<string> _log = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Task _accepting;

    private RawH2Server(Func<Request, Task> policy, (ushort Id, uint Value)[] settings)
    {
        _policy = policy;
        _settings = SettingsFrame(settings);
        _maxStreams = settings.Where(s => s.Id == SettingsMaxConcurrentStreams).Select(s => s.Value).DefaultIfEmpty(uint.MaxValue).Last();
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>Listens on 127.0.0.1; every connection opens with these SETTINGS (none: the protocol's defaults, no stream limit).</summary>
    public static RawH2Server Start(Func<Request, Task> policy, params (ushort Id, uint Value)[] settings) => new(policy, settings);

    public int Port { get; }

    /// <summary>The connections accepted so far, in order (index 0 first).</summary>
    public IReadOnlyList<Connection> Connections
    {
        get
        {
            lock (_connections)
                return [.. _connections];
        }
    }

    /// <summary>Every request stream so far, over-limit ones too, in the order their HEADERS arrived.</summary>
    public IReadOnlyList<Request> Requests
    {
        get
        {
            lock (_requests)
                return [.. _requests];
        }
    }

    /// <summary>Requests whose policy runs now (arrived within the limit, not yet answered, refused or reset).</summary>
    public int Held
    {
        get
        {
            lock (_requests)
                return _requests.Count(r => !r.OverLimit && !r.Done);
        }
    }

    /// <summary>Every frame both ways (PINGs only counted, see <see cref="Connection.PingAcks"/>), for a failing assertion to show.</summary>
    public string Log => "frames the upstream saw and sent:\n" + string.Join('\n', _log);

    private void Note(string line) => _log.Enqueue($"{_clock.ElapsedMilliseconds,6} ms {line}");

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;          // disposed
            }
            socket.NoDelay = true;
            Connection connection;
            lock (_connections)
            {
                connection = new Connection(this, _connections.Count, socket);
                _connections.Add(connection);
            }
            Note($"c{connection.Index} accepted");
            connection.Start();
        }
    }

    private void Add(Request request)
    {
        lock (_requests)
        {
            request.Index = _requests.Count;
            _requests.Add(request);
        }
    }

    private async Task RunPolicyAsync(Request request)
    {
        try
        {
            await _policy(request);
        }
        catch (Exception e)
        {
            // The proxy may have closed the connection meanwhile; the log says so, the test's assertions decide.
            Note($"c{request.Connection.Index} s{request.StreamId}: the policy failed: {e.GetType().Name}: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _accepting;
        Connection[] connections;
        lock (_connections)
            connections = [.. _connections];
        foreach (var connection in connections)
            await connection.DisposeAsync();
    }

    /// <summary>One connection the proxy opened: its frames read in order on one task, written whole under one lock.</summary>
    internal sealed class Connection : IAsyncDisposable
    {
        private readonly RawH2Server _server;
        private readonly Socket _socket;
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        // The proxy's HPACK state for this connection: blocks are decoded in the order they arrive.
        private readonly HpackDecoder _decoder = new();
        private readonly Dictionary<int, Request> _streams = [];
        private readonly ConcurrentDictionary<long, TaskCompletionSource> _pings = new();
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly MemoryStream _block = new();
        private int _blockStream;
        private bool _blockEndStream;
        private int _open;
        private long _nextPing;
        private int _pingAcks;
        private bool _settingsAcknowledged;
        private Task _reading = Task.CompletedTask;

        public Connection(RawH2Server server, int index, Socket socket)
        {
            _server = server;
            _socket = socket;
            Index = index;
        }

        /// <summary>0 for the first connection accepted.</summary>
        public int Index { get; }

        /// <summary>The proxy closed the connection (its reader met the end), or it failed.</summary>
        public Task Closed => _closed.Task;

        public bool IsClosed => _closed.Task.IsCompleted;

        /// <summary>The proxy's GOAWAY (last stream id, error code), null while none came.</summary>
        public (int LastStreamId, uint ErrorCode)? GoAwayFromProxy { get; private set; }

        /// <summary>The proxy acknowledged this server's SETTINGS: it acts on them (its stream limit among them).</summary>
        public bool SettingsAcknowledged => Volatile.Read(ref _settingsAcknowledged);

        /// <summary>PING ACKs the proxy sent on this connection.</summary>
        public int PingAcks => Volatile.Read(ref _pingAcks);

        public void Start() => _reading = Task.Run(ReadLoopAsync);

        /// <summary>
        /// GOAWAY, then a PING in the same write. Returns once the PING is acknowledged (the proxy reads a
        /// connection's frames in order, so it has acted on the GOAWAY) or the proxy closed the connection
        /// (it may, at once, when the GOAWAY left it no stream); a TimeoutException after 10 s of neither.
        /// </summary>
        public async Task GoAwayAsync(int lastStreamId, uint errorCode = NoError)
        {
            var payload = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(payload, lastStreamId);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), errorCode);
            var (ping, acked) = NewPing();
            await SendAsync(Concat(Frame(GoAwayType, 0, 0, payload), ping));
            await Task.WhenAny(acked, Closed).WaitAsync(TimeSpan.FromSeconds(10));
        }

        /// <summary>
        /// A PING, answered: every frame the proxy wrote on this connection before it read the PING has been
        /// read by then. Returns too when the proxy closed the connection; a TimeoutException after 10 s of neither.
        /// </summary>
        public async Task PingAsync()
        {
            var (ping, acked) = NewPing();
            await SendAsync(ping);
            await Task.WhenAny(acked, Closed).WaitAsync(TimeSpan.FromSeconds(10));
        }

        /// <summary><paramref name="count"/> PINGs in one write; their ACKs are counted (<see cref="PingAcks"/>).</summary>
        public Task SendPingsAsync(int count)
        {
            var frames = new byte[count][];
            for (var i = 0; i < count; i++)
                frames[i] = NewPing().Frame;
            return SendAsync(Concat(frames));
        }

        private (byte[] Frame, Task Acked) NewPing()
        {
            var id = Interlocked.Increment(ref _nextPing);
            var acked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _pings[id] = acked;
            var payload = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(payload, id);
            return (Frame(Ping, 0, 0, payload), acked.Task);
        }

        /// <summary>Writes whole frames (several at once when concatenated), each noted in the log.</summary>
        public async Task SendAsync(byte[] frames)
        {
            foreach (var line in Describe(frames))
                _server.Note($"c{Index} out {line}");
            await _writeLock.WaitAsync();
            try
            {
                var bytes = frames.AsMemory();
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

        /// <summary>The request stream counted against this server's limit is over: the next one may open.</summary>
        internal void StreamDone()
        {
            lock (_streams)
                _open--;
        }

        private async Task ReadLoopAsync()
        {
            try
            {
                // The server's preface is its SETTINGS, sent at once, as Kestrel does.
                await SendAsync(_server._settings);
                var preface = new byte[Preface.Length];
                await RawH2Client.ReadExactlyAsync(_socket, preface);
                if (!preface.AsSpan().SequenceEqual(Preface))
                {
                    _server.Note($"c{Index} in a preface that is not HTTP/2's: {Encoding.Latin1.GetString(preface)}");
                    return;
                }
                while (true)
                {
                    var (type, flags, streamId, payload) = await ReadFrameAsync(_socket);
                    if (type != Ping)
                        _server.Note($"c{Index} in {Describe(type, flags, streamId, payload)}");
                    await OnFrameAsync(type, flags, streamId, payload);
                }
            }
            catch (Exception e)
            {
                // The proxy closed (EOF), reset, or the test disposed the server: either way this connection is over.
                _server.Note($"c{Index} in {(e is EndOfStreamException ? "EOF" : e.GetType().Name + ": " + e.Message)}");
            }
            finally
            {
                Request[] open;
                lock (_streams)
                    open = [.. _streams.Values];
                foreach (var request in open)
                    request.EndBody(complete: false);
                _closed.TrySetResult();
            }
        }

        private async Task OnFrameAsync(byte type, byte flags, int streamId, byte[] payload)
        {
            switch (type)
            {
                case Settings when (flags & Ack) == 0:
                    await SendAsync(Frame(Settings, Ack, 0, []));
                    break;
                case Settings:
                    Volatile.Write(ref _settingsAcknowledged, true);
                    break;
                case Ping when (flags & Ack) != 0:
                    Interlocked.Increment(ref _pingAcks);
                    if (_pings.TryRemove(BinaryPrimitives.ReadInt64BigEndian(payload), out var acked))
                        acked.TrySetResult();
                    break;
                case Ping:
                    await SendAsync(Frame(Ping, Ack, 0, payload));
                    break;
                case GoAwayType:
                    GoAwayFromProxy = (BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue, BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)));
                    break;
                case Headers:
                    var fragment = payload.AsSpan();
                    var padding = 0;
                    if ((flags & Padded) != 0)
                    {
                        padding = fragment[0];
                        fragment = fragment[1..];
                    }
                    if ((flags & PriorityFlag) != 0)
                        fragment = fragment[5..];
                    _block.SetLength(0);
                    _block.Write(fragment[..^padding]);
                    _blockStream = streamId;
                    _blockEndStream = (flags & EndStream) != 0;
                    if ((flags & EndHeaders) != 0)
                        await OnHeaderBlockAsync();
                    break;
                case Continuation:
                    _block.Write(payload);
                    if ((flags & EndHeaders) != 0)
                        await OnHeaderBlockAsync();
                    break;
                case Data:
                    await OnDataAsync(flags, streamId, payload);
                    break;
                case RstStream:
                    if (Find(streamId) is { } reset)
                    {
                        reset.ResetByProxy = BinaryPrimitives.ReadUInt32BigEndian(payload);
                        reset.Finish();
                        reset.EndBody(complete: false);
                    }
                    break;
            }
        }

        private Request? Find(int streamId)
        {
            lock (_streams)
                return _streams.GetValueOrDefault(streamId);
        }

        private async Task OnHeaderBlockAsync()
        {
            var fields = new FieldSink();
            var decoded = _decoder.Decode(_block.GetBuffer().AsSpan(0, (int)_block.Length), fields, 1 << 20);
            if (decoded != HpackError.None)
            {
                _server.Note($"c{Index} s{_blockStream}: the header block did not decode ({decoded})");
                _socket.Shutdown(SocketShutdown.Both);
                return;
            }
            if (Find(_blockStream) is { } existing)
            {
                // Trailers of a request body.
                if (_blockEndStream)
                    existing.EndBody(complete: true);
                return;
            }
            bool overLimit;
            lock (_streams)
            {
                overLimit = _open >= _server._maxStreams;
                if (!overLimit)
                    _open++;
            }
            var request = new Request(this, _blockStream, fields.Fields, overLimit);
            lock (_streams)
                _streams[_blockStream] = request;
            _server.Add(request);
            _server.Note($"c{Index} s{_blockStream}: request #{request.Index} {request.Method} {request.Path}{(overLimit ? ", past this server's stream limit" : "")}");
            if (_blockEndStream)
                request.EndBody(complete: true);
            if (overLimit)
                await request.RefuseAsync();
            else
                _ = Task.Run(() => _server.RunPolicyAsync(request));
        }

        private async Task OnDataAsync(byte flags, int streamId, byte[] payload)
        {
            var content = payload.AsSpan();
            if ((flags & Padded) != 0)
                content = content[1..^payload[0]];
            var request = Find(streamId);
            var end = (flags & EndStream) != 0;
            request?.Append(content);
            if (end)
                request?.EndBody(complete: true);
            if (payload.Length == 0)
                return;
            // Credit back at once, the whole frame (padding counts): the proxy's body never waits on this server.
            var credit = WindowUpdateFrame(0, payload.Length);
            if (!end && request is { Done: false })
                credit = Concat(credit, WindowUpdateFrame(streamId, payload.Length));
            await SendAsync(credit);
        }

        public async ValueTask DisposeAsync()
        {
            _socket.Dispose();
            await _reading;
            _writeLock.Dispose();
        }
    }

    /// <summary>One request stream as this server received it, and how the policy answers it.</summary>
    internal sealed class Request
    {
        private readonly MemoryStream _body = new();
        private readonly TaskCompletionSource<bool> _bodyEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _done;

        public Request(Connection connection, int streamId, IReadOnlyList<(string Name, string Value)> fields, bool overLimit)
        {
            Connection = connection;
            StreamId = streamId;
            Fields = fields;
            OverLimit = overLimit;
            Method = Field(":method") ?? "";
            Path = Field(":path") ?? "";
        }

        /// <summary>Its place among all requests this server received (0 first), whatever the connection.</summary>
        public int Index { get; internal set; }

        public Connection Connection { get; }

        public int StreamId { get; }

        public IReadOnlyList<(string Name, string Value)> Fields { get; }

        public string Method { get; }

        public string Path { get; }

        /// <summary>It came while the connection already carried as many streams as this server allows: refused, no policy.</summary>
        public bool OverLimit { get; }

        /// <summary>The proxy's RST_STREAM code, null while none came.</summary>
        public uint? ResetByProxy { get; internal set; }

        /// <summary>Answered, refused or reset: it no longer counts against the stream limit.</summary>
        public bool Done => Volatile.Read(ref _done) != 0;

        /// <summary>True once the request ended (END_STREAM); false when it was reset or the connection ended first.</summary>
        public Task<bool> BodyEnded => _bodyEnded.Task;

        /// <summary>The DATA received so far (no padding).</summary>
        public byte[] Body
        {
            get
            {
                lock (_body)
                    return _body.ToArray();
            }
        }

        public string? Field(string name) => Fields.Where(f => f.Name == name).Select(f => f.Value).FirstOrDefault();

        /// <summary>
        /// The answer: HEADERS (:status, content-length) and the body in DATA frames of at most 16 KB (the
        /// protocol's default frame size), END_STREAM on the last.
        /// </summary>
        public Task RespondAsync(int status, string body)
        {
            var bytes = Encoding.UTF8.GetBytes(body);
            var head = FieldBlock((":status", status.ToString()), ("content-length", bytes.Length.ToString()));
            var frames = new List<byte[]> { Frame(Headers, (byte)(EndHeaders | (bytes.Length == 0 ? EndStream : 0)), StreamId, head) };
            for (var at = 0; at < bytes.Length; at += 16_384)
            {
                var n = Math.Min(16_384, bytes.Length - at);
                frames.Add(Frame(Data, at + n == bytes.Length ? EndStream : (byte)0, StreamId, bytes.AsSpan(at, n)));
            }
            // Counted done before the proxy can see the end: its next stream may never look over the limit.
            Finish();
            return Connection.SendAsync(Concat([.. frames]));
        }

        /// <summary>RST_STREAM REFUSED_STREAM: this server says it never processed the request.</summary>
        public Task RefuseAsync()
        {
            Finish();
            return Connection.SendAsync(RstStreamFrame(StreamId, RefusedStream));
        }

        internal void Finish()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0 && !OverLimit)
                Connection.StreamDone();
        }

        internal void Append(ReadOnlySpan<byte> data)
        {
            lock (_body)
                _body.Write(data);
        }

        internal void EndBody(bool complete) => _bodyEnded.TrySetResult(complete);
    }

    private sealed class FieldSink : IHeaderFieldSink
    {
        public List<(string Name, string Value)> Fields { get; } = [];

        public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
            Fields.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
    }

    private static readonly string[] TypeNames = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"];

    /// <summary>The frames of a write, one line each; PINGs and their ACKs are left out (a test may send thousands).</summary>
    private static IEnumerable<string> Describe(byte[] frames)
    {
        var lines = new List<string>();
        for (var at = 0; at + 9 <= frames.Length;)
        {
            var length = (frames[at] << 16) | (frames[at + 1] << 8) | frames[at + 2];
            var type = frames[at + 3];
            if (type != Ping)
                lines.Add(Describe(type, frames[at + 4], BinaryPrimitives.ReadInt32BigEndian(frames.AsSpan(at + 5)) & int.MaxValue, frames.AsSpan(at + 9, length)));
            at += 9 + length;
        }
        return lines;
    }

    private static string Describe(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var name = type < TypeNames.Length ? TypeNames[type] : "type " + type;
        var text = new StringBuilder(name).Append(" s").Append(streamId).Append(" len ").Append(payload.Length);
        if ((flags & EndStream) != 0 && type is Data or Headers)
            text.Append(" END_STREAM");
        if ((flags & Ack) != 0 && type is Settings or Ping)
            text.Append(" ACK");
        if (type is RstStream && payload.Length == 4)
            text.Append(" code ").Append(BinaryPrimitives.ReadUInt32BigEndian(payload));
        if (type is GoAwayType && payload.Length >= 8)
            text.Append(" last ").Append(BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue).Append(" code ").Append(BinaryPrimitives.ReadUInt32BigEndian(payload[4..]));
        if (type is WindowUpdate && payload.Length == 4)
            text.Append(" +").Append(BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue);
        return text.ToString();
    }
}
