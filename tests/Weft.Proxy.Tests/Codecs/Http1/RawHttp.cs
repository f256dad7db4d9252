using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Weft.Proxy.Tests.Codecs.Http1;

/// <summary>A client that writes exact bytes (malformed ones included) and reads what comes back.</summary>
internal sealed class RawClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private string _carry = "";   // received past the end of the last response read (pipelined answers arrive together)

    private RawClient(Socket socket) => _socket = socket;

    public static Task<RawClient> ConnectAsync(int port) => ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));

    public static async Task<RawClient> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return new RawClient(socket);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes) => await _socket.SendAsync(bytes, SocketFlags.None);

    /// <summary>Everything until the peer closes (or the timeout: then Closed is false).</summary>
    public async Task<(string Text, bool Closed)> ReadToEndAsync(TimeSpan? timeout = null)
    {
        var sb = new StringBuilder(TakeCarry());
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                    return (sb.ToString(), true);
                sb.Append(Encoding.Latin1.GetString(_buffer, 0, n));
            }
        }
        catch (OperationCanceledException)
        {
            return (sb.ToString(), false);
        }
        catch (SocketException)
        {
            return (sb.ToString(), true);
        }
    }

    /// <summary>Reads until <paramref name="text"/> has arrived (the received text so far is returned).</summary>
    public async Task<string> ReadUntilAsync(string text, TimeSpan? timeout = null)
    {
        var sb = new StringBuilder(TakeCarry());
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (!sb.ToString().Contains(text, StringComparison.Ordinal))
        {
            var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
            if (n == 0)
                break;
            sb.Append(Encoding.Latin1.GetString(_buffer, 0, n));
        }
        return sb.ToString();
    }

    /// <summary>A response head, read a byte at a time: nothing after it (an upgraded protocol's first bytes) is consumed.</summary>
    public async Task<string> ReadHeadAsync(TimeSpan? timeout = null)
    {
        if (_carry.Length != 0)
            throw new InvalidOperationException("bytes after the last response were already read");
        var sb = new StringBuilder();
        var one = new byte[1];
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (!sb.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await _socket.ReceiveAsync(one, SocketFlags.None, cts.Token) == 0)
                break;
            sb.Append((char)one[0]);
        }
        return sb.ToString();
    }

    /// <summary>The connection as a stream (the socket stays this client's), to speak an upgraded protocol on it.</summary>
    public Stream GetStream() => new NetworkStream(_socket, ownsSocket: false);

    private string TakeCarry()
    {
        var carry = _carry;
        _carry = "";
        return carry;
    }

    /// <summary>
    /// One response with a Content-Length or chunked body (read to its last chunk, which may arrive in
    /// a later segment than the rest); bytes after it are kept for the next read. Without either,
    /// everything received is returned.
    /// </summary>
    public async Task<string> ReadResponseAsync(TimeSpan? timeout = null)
    {
        var head = await ReadUntilAsync("\r\n\r\n", timeout);
        var end = head.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        var lines = head[..end].Split("\r\n");
        var lengthLine = lines.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var chunked = lines.Any(l => l.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase)
            && l.Contains("chunked", StringComparison.OrdinalIgnoreCase));
        var sb = new StringBuilder(head);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        int? total = lengthLine is not null ? end + int.Parse(lengthLine["Content-Length:".Length..].Trim()) : chunked ? null : end;
        while (total is not { } known || sb.Length < known)
        {
            if (total is null && ChunkedEnd(sb.ToString(), end) is { } found)
            {
                total = found;
                continue;
            }
            var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
            if (n == 0)
                break;
            sb.Append(Encoding.Latin1.GetString(_buffer, 0, n));
        }
        var all = sb.ToString();
        if ((lengthLine is null && !chunked) || total is not { } length || all.Length <= length)
            return all;
        _carry = all[length..];
        return all[..length];
    }

    /// <summary>Where a chunked body that starts at <paramref name="start"/> ends (after its last chunk and trailers), or null when not all of it is here.</summary>
    private static int? ChunkedEnd(string text, int start)
    {
        var at = start;
        while (true)
        {
            var lineEnd = text.IndexOf("\r\n", at, StringComparison.Ordinal);
            if (lineEnd < 0)
                return null;
            var sizeText = text[at..lineEnd].Split(';')[0].Trim();
            var size = Convert.ToInt32(sizeText, 16);
            if (size == 0)
            {
                // The last chunk's line ends where the trailer section begins; an empty line ends that.
                var blank = text.IndexOf("\r\n\r\n", lineEnd, StringComparison.Ordinal);
                return blank < 0 ? null : blank + 4;
            }
            at = lineEnd + 2 + size + 2;
            if (at > text.Length)
                return null;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// A raw TCP upstream for one connection: reads until the request looks complete, runs the answer,
/// and hands back what it read. For upstream behaviour no app framework produces (HTTP/1.0 without a
/// length, interim responses split across packets).
/// </summary>
internal sealed class OneConnectionUpstream : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    private OneConnectionUpstream() => _listener.Start();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>What the upstream received before answering.</summary>
    public Task<string> Received { get; private set; } = Task.FromResult("");

    public static OneConnectionUpstream Start(Func<string, bool> complete, Func<Socket, Task> answer)
    {
        var upstream = new OneConnectionUpstream();
        upstream.Received = Task.Run(async () =>
        {
            using var socket = await upstream._listener.AcceptSocketAsync();
            var buffer = new byte[4096];
            var received = new StringBuilder();
            while (!complete(received.ToString()))
            {
                var n = await socket.ReceiveAsync(buffer);
                if (n == 0)
                    break;
                received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            await answer(socket);
            return received.ToString();
        });
        return upstream;
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>
/// A raw TCP upstream that records every byte it receives and answers each request head with a fixed
/// 200 "ok". Proves that a refused request reached no app: not even a connection.
/// </summary>
internal sealed class RecordingUpstream : IAsyncDisposable
{
    private static readonly byte[] Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private long _bytes;
    private int _connections;

    public RecordingUpstream()
    {
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public long BytesReceived => Interlocked.Read(ref _bytes);
    public int Connections => Volatile.Read(ref _connections);

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                _ = ServeAsync(socket);
            }
        }
        catch (Exception)
        {
            // Stopped.
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        socket.NoDelay = true;
        var buffer = new byte[16 * 1024];
        var matched = 0;
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0)
                    break;
                Interlocked.Add(ref _bytes, n);
                // Answer each end of a head (requests here carry no body).
                for (var i = 0; i < n; i++)
                {
                    var b = buffer[i];
                    matched = (matched, b) switch
                    {
                        (0, (byte)'\r') or (2, (byte)'\r') => matched + 1,
                        (1, (byte)'\n') => 2,
                        (3, (byte)'\n') => 4,
                        (_, (byte)'\r') => 1,
                        _ => 0,
                    };
                    if (matched == 4)
                    {
                        matched = 0;
                        await socket.SendAsync(Ok.AsMemory(), SocketFlags.None, _stop.Token);
                    }
                }
            }
        }
        catch (Exception)
        {
            // Client gone.
        }
        finally
        {
            socket.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        return ValueTask.CompletedTask;
    }
}
