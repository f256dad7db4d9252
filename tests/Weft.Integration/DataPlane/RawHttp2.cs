using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Weft.Integration.DataPlane;

/// <summary>
/// A minimal h2c prior-knowledge client that shows the frames a server sends (GOAWAY above all),
/// which HttpClient hides. One GET on stream 1; the server's SETTINGS and PINGs are acknowledged.
/// </summary>
public sealed class RawHttp2 : IAsyncDisposable
{
    private const byte Data = 0x0, Headers = 0x1, Settings = 0x4, Ping = 0x6, GoAway = 0x7;
    private const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    private RawHttp2(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    /// <summary>What the server said on the connection: GOAWAY (if any) and how stream 1 ended.</summary>
    public sealed record Outcome(bool GoAway, uint GoAwayError, int GoAwayLastStream, bool Status200, string Body, bool StreamEnded, bool ConnectionClosed);

    /// <summary>Connects and sends GET <paramref name="path"/> on stream 1 (END_STREAM: no body).</summary>
    public static async Task<RawHttp2> GetAsync(int port, string path)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        var h2 = new RawHttp2(tcp);
        var block = new List<byte> { 0x82, 0x86 };                       // :method GET, :scheme http (static table)
        Literal(block, 4, path);                                          // :path, literal without indexing
        Literal(block, 1, "test");                                        // :authority
        var bytes = new List<byte>(Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        bytes.AddRange(Frame(Settings, 0, 0, []));
        bytes.AddRange(Frame(Headers, EndStream | EndHeaders, 1, [.. block]));
        await h2._stream.WriteAsync(bytes.ToArray());
        return h2;
    }

    /// <summary>Reads frames until stream 1 ends or the connection closes (or the timeout).</summary>
    public async Task<Outcome> ReadUntilStreamEndsAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var outcome = new Outcome(false, 0, 0, false, "", false, false);
        var body = new StringBuilder();
        var head = new byte[9];
        while (true)
        {
            try { await _stream.ReadExactlyAsync(head, cts.Token); }
            catch (Exception e) when (e is EndOfStreamException or IOException)
            {
                return outcome with { Body = body.ToString(), ConnectionClosed = true };
            }
            var length = (head[0] << 16) | (head[1] << 8) | head[2];
            var (type, flags) = (head[3], head[4]);
            var streamId = BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(5)) & int.MaxValue;
            var payload = new byte[length];
            await _stream.ReadExactlyAsync(payload, cts.Token);
            switch (type)
            {
                case Settings when (flags & Ack) == 0:
                    await _stream.WriteAsync(Frame(Settings, Ack, 0, []), cts.Token);
                    break;
                case Ping when (flags & Ack) == 0:
                    await _stream.WriteAsync(Frame(Ping, Ack, 0, payload), cts.Token);
                    break;
                case GoAway:
                    outcome = outcome with
                    {
                        GoAway = true,
                        GoAwayLastStream = BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue,
                        GoAwayError = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)),
                    };
                    break;
                case Headers when streamId == 1:
                    // :status 200 is index 8 of the static table: 0x88 (servers use it; no padding/priority here).
                    outcome = outcome with { Status200 = outcome.Status200 || (payload.Length > 0 && payload[0] == 0x88) };
                    break;
                case Data when streamId == 1:
                    body.Append(Encoding.UTF8.GetString(payload));
                    break;
            }
            if (streamId == 1 && type is Headers or Data && (flags & EndStream) != 0)
                return outcome with { Body = body.ToString(), StreamEnded = true };
        }
    }

    private static void Literal(List<byte> block, byte nameIndex, string value)
    {
        block.Add(nameIndex);                 // 0000xxxx: literal without indexing, indexed name (index < 15)
        block.Add((byte)value.Length);        // no Huffman, length < 127
        block.AddRange(Encoding.ASCII.GetBytes(value));
    }

    private static byte[] Frame(byte type, byte flags, int streamId, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame, 9);
        return frame;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
