using Weft.Protocol.Grpc;
using Weft.Protocol.Shop;

namespace Shop;

/// <summary>The methods of shop.v1.Ratings, shared by the ratings server and the web client.</summary>
internal static class RatingsMethods
{
    public const string Service = "shop.v1.Ratings";

    public static readonly Method<RatingRequest, Rating> Get =
        new(Service, "Get", MethodType.Unary, RatingRequest.Parser, Rating.Parser);

    public static readonly Method<RatingRequest, Rating> Watch =
        new(Service, "Watch", MethodType.ServerStreaming, RatingRequest.Parser, Rating.Parser);
}
