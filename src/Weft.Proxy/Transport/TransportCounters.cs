namespace Weft.Proxy.Transport;

/// <summary>
/// What the loop transport survived instead of failing the process (docs/proxy.md, "Transport"),
/// counted since the process started, for the metrics code to read. Each one cost one connection, one
/// accept round or one batch its normal path; no loop stops for any of them.
/// </summary>
internal static class TransportCounters
{
    private static long s_handlerFailures, s_registerFailures, s_acceptDescriptorExhausted, s_batchFallbacks;
    private static Exception? s_firstHandlerFailure;

    /// <summary>
    /// Code the transport ran for a connection that threw: on a loop's thread (a socket's readiness
    /// handler, or code it resumed inline), after which that connection was reset; or a
    /// ConnectionClosed callback.
    /// </summary>
    public static long HandlerFailures => Interlocked.Read(ref s_handlerFailures);

    /// <summary>epoll_ctl(ADD) refused a new socket (ENOSPC: fs.epoll.max_user_watches; ENOMEM): that connection was closed.</summary>
    public static long RegisterFailures => Interlocked.Read(ref s_registerFailures);

    /// <summary>An accept failed for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the listener tried again on a timer.</summary>
    public static long AcceptDescriptorExhausted => Interlocked.Read(ref s_acceptDescriptorExhausted);

    /// <summary>A batched send that io_uring did not make (the submission was refused, or the ring failed it): made the ordinary way.</summary>
    public static long BatchFallbacks => Interlocked.Read(ref s_batchFallbacks);

    /// <summary>The first exception counted in <see cref="HandlerFailures"/>, kept for the host to log once; null until then.</summary>
    public static Exception? FirstHandlerFailure => Volatile.Read(ref s_firstHandlerFailure);

    internal static void HandlerFailed(Exception error)
    {
        Interlocked.Increment(ref s_handlerFailures);
        Interlocked.CompareExchange(ref s_firstHandlerFailure, error, null);
    }

    internal static void RegisterFailed() => Interlocked.Increment(ref s_registerFailures);

    internal static void AcceptExhausted() => Interlocked.Increment(ref s_acceptDescriptorExhausted);

    internal static void BatchFellBack() => Interlocked.Increment(ref s_batchFallbacks);
}
