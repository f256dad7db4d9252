using System.Text;
using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;

namespace Weft.Protocol.Tests.Grpc;

internal static class EchoMethods
{
    public const string Service = "shop.v1.Echo";
    public static readonly Method<EchoMessage, EchoMessage> Unary = new(Service, "Unary", MethodType.Unary, EchoMessage.Parser, EchoMessage.Parser);
    public static readonly Method<EchoMessage, EchoMessage> ServerStream = new(Service, "ServerStream", MethodType.ServerStreaming, EchoMessage.Parser, EchoMessage.Parser);
    public static readonly Method<EchoMessage, EchoMessage> ClientStream = new(Service, "ClientStream", MethodType.ClientStreaming, EchoMessage.Parser, EchoMessage.Parser);
    public static readonly Method<EchoMessage, EchoMessage> Bidi = new(Service, "Bidi", MethodType.DuplexStreaming, EchoMessage.Parser, EchoMessage.Parser);
}

/// <summary>
/// The Echo service of proto/shop/v1/ratings.proto with the behaviours the interop peer has too:
/// delay_ms waits (on the call's token), fail_code fails, repeat streams. It also reports what the
/// server saw, so tests can wait on it instead of sleeping.
/// </summary>
internal sealed class EchoService
{
    /// <summary>Completes when a handler starts waiting out a delay.</summary>
    public TaskCompletionSource CallWaiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when a handler's CancellationToken fired during a delay.</summary>
    public TaskCompletionSource CancellationSeen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The deadline the last call carried.</summary>
    public DateTimeOffset? LastDeadline { get; private set; }

    public void Register(GrpcServer server)
    {
        server.AddUnary(EchoMethods.Unary, UnaryAsync);
        server.AddServerStreaming(EchoMethods.ServerStream, ServerStreamAsync);
        server.AddClientStreaming(EchoMethods.ClientStream, ClientStreamAsync);
        server.AddDuplexStreaming(EchoMethods.Bidi, BidiAsync);
    }

    private async Task<EchoMessage> UnaryAsync(EchoMessage request, IServerCallContext context)
    {
        await BehaveAsync(request, context);
        var text = new StringBuilder(request.Text);
        if (context.RequestHeaders.TryGetValue("x-echo", out string? echo))
        {
            text.Append('|').Append(echo);
        }
        return new EchoMessage { Text = text.ToString(), Payload = request.Payload };
    }

    private async Task ServerStreamAsync(EchoMessage request, IMessageWriter<EchoMessage> responses, IServerCallContext context)
    {
        for (int i = 0; i < request.Repeat; i++)
        {
            await responses.WriteAsync(new EchoMessage { Text = request.Text + "-" + i, Payload = request.Payload });
        }
        // After the messages, so a failure arrives in trailers rather than trailers-only.
        await BehaveAsync(request, context);
    }

    private async Task<EchoMessage> ClientStreamAsync(IMessageReader<EchoMessage> requests, IServerCallContext context)
    {
        var texts = new List<string>();
        long bytes = 0;
        while (await requests.ReadAsync() is { } request)
        {
            await BehaveAsync(request, context);
            texts.Add(request.Text);
            bytes += request.Payload.Length;
        }
        return new EchoMessage { Text = string.Join(",", texts), Repeat = texts.Count, DelayMs = (int)Math.Min(bytes, int.MaxValue) };
    }

    private async Task BidiAsync(IMessageReader<EchoMessage> requests, IMessageWriter<EchoMessage> responses, IServerCallContext context)
    {
        while (await requests.ReadAsync() is { } request)
        {
            await BehaveAsync(request, context);
            await responses.WriteAsync(new EchoMessage { Text = request.Text, Payload = request.Payload });
        }
    }

    private async Task BehaveAsync(EchoMessage request, IServerCallContext context)
    {
        LastDeadline = context.Deadline;
        if (request.DelayMs > 0)
        {
            CallWaiting.TrySetResult();
            try
            {
                await Task.Delay(request.DelayMs, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                CancellationSeen.TrySetResult();
                throw;
            }
        }
        if (request.FailCode != 0)
        {
            if (request.FailCode < 0)
            {
                throw new InvalidOperationException("secret internal detail");
            }
            throw new RpcException((StatusCode)request.FailCode, "failed: " + request.Text);
        }
    }
}
