using System.Text;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Tests.Pipeline;

/// <summary>The one gRPC test both codecs use (bytes for the lean codec, chars for Kestrel's): they must agree.</summary>
public sealed class GrpcContentTypeTests
{
    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc+json", true)]
    [InlineData("application/grpc; charset=utf-8", true)]
    [InlineData("Application/GRPC", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/grpc-web+proto", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData("application/grp", false)]
    [InlineData("", false)]
    public void Both_forms_agree_on_what_is_grpc(string contentType, bool grpc)
    {
        Assert.Equal(grpc, GrpcContentType.Is(contentType.AsSpan()));
        Assert.Equal(grpc, GrpcContentType.Is(Encoding.Latin1.GetBytes(contentType)));
    }
}
