using System.Net;
using System.Net.Sockets;

namespace Weft.Proxy.Tests.Listeners;

/// <summary>Plain TCP servers on 127.0.0.1:0 that run one handler per accepted connection.</summary>
public sealed class RawServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _accepted;

    private RawServer(Func<Socket, CancellationToken, Task> handler)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync(handler);
    }

    public int Port { get; }
    public int Accepted => Volatile.Read(ref _accepted);

    public static RawServer Start(Func<Socket, CancellationToken, Task> handler) => new(handler);

    /// <summary>Server-first, like SMTP: a banner at once, then "250 " + each line it reads, until the client closes.</summary>
    public static RawServer SmtpLike(string banner = "220 weft-test ESMTP ready\r\n") => Start(async (socket, ct) =>
    {
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(banner), ct);
        using var stream = new NetworkStream(socket);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(ct) is { } line)
            await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes("250 " + line + "\r\n"), ct);
    });

    /// <summary>Echoes every byte as it arrives; closes after the client's FIN.</summary>
    public static RawServer Echo() => Start(async (socket, ct) =>
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, ct);
            if (n == 0) break;
            await socket.SendAsync(buffer.AsMemory(0, n), ct);
        }
        socket.Shutdown(SocketShutdown.Send);
    });

    /// <summary>Reads everything until the client's FIN, then answers with its own reply followed by all it read, then closes.</summary>
    public static RawServer AnswersAfterEof(byte[] reply) => Start(async (socket, ct) =>
    {
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, ct);
            if (n == 0) break;
            received.Write(buffer, 0, n);
        }
        await socket.SendAsync(reply, ct);
        await socket.SendAsync(received.ToArray(), ct);
        socket.Shutdown(SocketShutdown.Send);
    });

    private async Task AcceptAsync(Func<Socket, CancellationToken, Task> handler)
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(token); }
            catch (Exception) { return; }
            Interlocked.Increment(ref _accepted);
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    try { await handler(socket, token); }
                    catch (Exception) { /* the test sees what the client saw */ }
                }
            }, CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try { await _accepting; } catch (Exception) { }
        _stop.Dispose();
    }
}

public static class RawClient
{
    public static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    /// <summary>Reads until the peer closes, or fails at the deadline.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            if (n == 0) return all.ToArray();
            all.Write(buffer, 0, n);
        }
    }

    /// <summary>Reads until <paramref name="count"/> bytes arrived (or the peer closed), with a deadline.</summary>
    public static async Task<byte[]> ReadAsync(Socket socket, int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cts.Token);
            if (n == 0) break;
            read += n;
        }
        return buffer[..read];
    }
}
