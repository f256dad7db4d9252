using System.Collections.Frozen;
using Weft.Proxy.Codecs.Tls;

namespace Weft.Proxy.Tests.Codecs.Tls;

public class SniTableTests
{
    private static readonly SniTable Table = new(
        new Dictionary<string, string> { ["db.default"] = "exact", ["a.example.com"] = "exact-a" }.ToFrozenDictionary(),
        [(".eu.example.com", "eu"), (".example.com", "any")]);

    [Theory]
    [InlineData("db.default", "exact")]
    [InlineData("a.example.com", "exact-a")]      // exact wins over a wildcard
    [InlineData("b.example.com", "any")]
    [InlineData("x.y.example.com", "any")]        // more than one label
    [InlineData("x.eu.example.com", "eu")]        // longest suffix wins
    [InlineData("example.com", null)]             // the wildcard needs a label
    [InlineData(".example.com", null)]
    [InlineData("db.other", null)]
    [InlineData(null, null)]
    public void Matches_exact_then_longest_wildcard(string? name, string? cluster)
    {
        Assert.Equal(cluster, Table.Match(name));
    }
}
