using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Google.Protobuf;

namespace Weft.Protocol.Grpc;

/// <summary>
/// The gRPC Length-Prefixed-Message: 1 byte compressed flag, 4 bytes big-endian length, the message.
/// Both sides of the transport read and write frames through here so the rules live in one place.
/// </summary>
internal static class MessageFraming
{
    public const int HeaderSize = 5;

    /// <summary>
    /// Reads the next message from <paramref name="reader"/>; null when the body ended cleanly between
    /// messages. Parses straight from the pipe's buffers, so a message is never copied into a byte[].
    /// </summary>
    public static async ValueTask<T?> ReadMessageAsync<T>(PipeReader reader, MessageParser<T> parser, int maxMessageSize, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (TryReadFrame(buffer, maxMessageSize, out ReadOnlySequence<byte> payload))
            {
                T message;
                try
                {
                    message = parser.ParseFrom(payload);
                }
                catch (InvalidProtocolBufferException)
                {
                    reader.AdvanceTo(payload.End);
                    throw new RpcException(StatusCode.Internal, "Failed to deserialize the message.");
                }
                reader.AdvanceTo(payload.End);
                return message;
            }

            if (result.IsCompleted)
            {
                bool clean = buffer.IsEmpty;
                reader.AdvanceTo(buffer.End);
                return clean ? null : throw new RpcException(StatusCode.Internal, "The message was cut short: the stream ended inside a frame.");
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException(cancellationToken);
            }

            // Nothing complete yet: keep everything, wait for more.
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True with the payload when <paramref name="buffer"/> starts with a whole frame.</summary>
    private static bool TryReadFrame(ReadOnlySequence<byte> buffer, int maxMessageSize, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        // Checked before waiting for the body, so an oversized message fails fast instead of being buffered.
        if (header[0] != 0)
        {
            ThrowCompressed(header[0]);
        }
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (length > (uint)maxMessageSize)
        {
            ThrowTooLarge(length, maxMessageSize);
        }
        if (buffer.Length - HeaderSize < length)
        {
            return false;
        }
        payload = buffer.Slice(HeaderSize, length);
        return true;
    }

    /// <summary>Writes one frame into <paramref name="writer"/> (no flush).</summary>
    public static void WriteMessage(IBufferWriter<byte> writer, IMessage message, int maxMessageSize)
    {
        int size = message.CalculateSize();
        if (size > maxMessageSize)
        {
            ThrowSendTooLarge(size, maxMessageSize);
        }
        Span<byte> header = writer.GetSpan(HeaderSize);
        header[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)size);
        writer.Advance(HeaderSize);
        if (size > 0)
        {
            message.WriteTo(writer);
        }
    }

    /// <summary>Writes one frame into a pooled array; the caller returns it to <see cref="ArrayPool{T}.Shared"/>.</summary>
    public static byte[] RentFrame(IMessage message, int maxMessageSize, out int length)
    {
        int size = message.CalculateSize();
        if (size > maxMessageSize)
        {
            ThrowSendTooLarge(size, maxMessageSize);
        }
        length = HeaderSize + size;
        byte[] frame = ArrayPool<byte>.Shared.Rent(length);
        frame[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)size);
        message.WriteTo(frame.AsSpan(HeaderSize, size));
        return frame;
    }

    private static void ThrowCompressed(byte flag) =>
        throw new RpcException(flag == 1 ? StatusCode.Unimplemented : StatusCode.Internal,
            flag == 1 ? "Compressed messages are not supported: no grpc-encoding was negotiated." : "Invalid compressed flag " + flag + ".");

    private static void ThrowTooLarge(uint length, int max) =>
        throw new RpcException(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {max})");

    private static void ThrowSendTooLarge(int size, int max) =>
        throw new RpcException(StatusCode.ResourceExhausted, $"Sending message larger than max ({size} vs. {max})");
}
