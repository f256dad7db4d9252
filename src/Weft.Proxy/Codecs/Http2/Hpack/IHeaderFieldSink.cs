namespace Weft.Proxy.Codecs.Http2.Hpack;

/// <summary>Receives decoded fields in order. Spans are valid only during the call.</summary>
internal interface IHeaderFieldSink
{
    void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}
