using System.Text.Json.Serialization;

namespace Shop;

internal sealed record Product(string Id, string Name, decimal Price);

internal sealed record ProductList(string Version, string Instance, IReadOnlyList<Product> Products);

internal sealed record CatalogInfo(string Version, string Instance);

internal sealed record RatingInfo(string ProductId, double Stars, int Votes, string ServedBy);

/// <summary>The front page: which catalog version and instance answered, so tests see the split.</summary>
internal sealed record Page(CatalogInfo Catalog, IReadOnlyList<Product> Products, RatingInfo Rating, string Web);

internal sealed record UpstreamError(string Error, string Upstream, string Reason);

// Source-generated so the apps start fast and need no reflection-based serializer.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ProductList))]
[JsonSerializable(typeof(Page))]
[JsonSerializable(typeof(UpstreamError))]
internal sealed partial class ShopJson : JsonSerializerContext;
