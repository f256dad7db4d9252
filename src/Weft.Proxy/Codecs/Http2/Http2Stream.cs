namespace Weft.Proxy.Codecs.Http2;

/// <summary>
/// What every HTTP/2 stream has, on either side of the proxy: its id, its incoming body (credit given
/// back as it is read), its outgoing body (sent as the peer's windows allow), and its state as the
/// connection's reader sees it (RFC 9113 5.1). The server's and the client's streams add what the
/// pipeline needs of them.
/// </summary>
internal abstract class Http2Stream : StreamOutput.IOwner
{
    protected Http2Stream(Http2Connection connection)
    {
        Connection = connection;
        Input = new StreamInput(connection);
        Output = new StreamOutput(connection.Output, this);
    }

    public Http2Connection Connection { get; }

    public int Id { get; private set; }

    public StreamInput Input { get; }

    public StreamOutput Output { get; }

    /// <summary>Bytes the peer may still send on this stream (decremented by the reader, grown as credit is given back).</summary>
    public int ReceiveWindow;

    /// <summary>Consumed bytes not yet given back as credit (under the output's lock).</summary>
    public int Unreturned;

    /// <summary>The peer's END_STREAM arrived (read loop only).</summary>
    public bool RemoteEnded;

    /// <summary>The content-length the peer declared, or -1 (checked against the DATA received).</summary>
    public long DeclaredLength = -1;

    private int _closed;

    /// <summary>Reset by either side, or closed both ways: it left the connection's table.</summary>
    public bool Closed => Volatile.Read(ref _closed) != 0;

    protected void Open(int id, int receiveWindow)
    {
        Id = id;
        ReceiveWindow = receiveWindow;
        Unreturned = 0;
        RemoteEnded = false;
        DeclaredLength = -1;
        Volatile.Write(ref _closed, 0);
        Input.Start(id);
        Output.Start(id);
    }

    /// <summary>Marks it closed once; true for the caller that did.</summary>
    public bool TryClose() => Interlocked.Exchange(ref _closed, 1) == 0;

    /// <summary>The peer's END_STREAM (on DATA or trailers).</summary>
    public virtual void OnRemoteEnded()
    {
        RemoteEnded = true;
        if (Output.Ended)
            Connection.CloseStream(this);
    }

    /// <summary>Our END_STREAM went out.</summary>
    public virtual void OnOutputEnded()
    {
        if (RemoteEnded)
            Connection.CloseStream(this);
    }

    /// <summary>The peer reset the stream (RST_STREAM), or the connection is gone (<paramref name="connectionLost"/>).</summary>
    public abstract void OnReset(Http2Error error, bool connectionLost);

    /// <summary>Another header block on this stream (trailers; on the client also the final head after a 1xx): where its fields go.</summary>
    public abstract IHeaderBlockTarget BeginHeaders(bool endStream);
}
