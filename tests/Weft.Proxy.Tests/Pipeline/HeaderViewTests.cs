using Microsoft.AspNetCore.Http;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Tests.Pipeline;

public sealed class HeaderViewTests
{
    private sealed class Sink : IHeaderSink
    {
        public List<string> Names { get; } = [];
        public void Add(string name, string value) => Names.Add(name.ToLowerInvariant());
    }

    [Fact]
    public void A_dictionary_view_leaves_out_hop_by_hop_fields_and_those_connection_names()
    {
        var headers = new HeaderDictionary
        {
            ["Connection"] = "close, X-Private",
            ["X-Private"] = "secret",
            ["Keep-Alive"] = "timeout=5",
            ["Proxy-Authorization"] = "Basic x",
            ["TE"] = "trailers",
            ["Content-Length"] = "5",
            ["X-Kept"] = "yes",
        };
        var http1 = new Sink();
        new DictionaryHeaderView(headers).CopyTo(http1, toHttp2: false);
        Assert.Equal(["x-kept"], http1.Names);
        var http2 = new Sink();
        new DictionaryHeaderView(headers).CopyTo(http2, toHttp2: true);
        Assert.Equal(["te", "x-kept"], http2.Names.Order());
    }
}
