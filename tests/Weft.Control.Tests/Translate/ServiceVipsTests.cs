using System.Net;
using Weft.Control.Translate;

namespace Weft.Control.Tests.Translate;

public class ServiceVipsTests
{
    private static readonly (string, string)[] Shop = [("default", "web"), ("default", "catalog"), ("default", "ratings"), ("shop", "catalog")];

    [Fact]
    public void Every_service_gets_a_distinct_address_in_the_reserved_range()
    {
        var many = Enumerable.Range(0, 5000).Select(i => ("ns" + (i % 7), "svc-" + i)).ToList();
        var vips = ServiceVips.Allocate(many);
        Assert.Equal(many.Count, vips.Count);
        Assert.Equal(many.Count, vips.Values.Distinct().Count());
        foreach (var vip in vips.Values)
        {
            var bytes = IPAddress.Parse(vip).GetAddressBytes();
            Assert.Equal((byte)10, bytes[0]);
            Assert.Equal((byte)255, bytes[1]);
            Assert.False(bytes[2] == 0 && bytes[3] == 0, vip);
            Assert.False(bytes[2] == 255 && bytes[3] == 255, vip);
        }
    }

    [Fact]
    public void The_same_services_in_any_order_get_the_same_addresses()
    {
        Assert.Equal(ServiceVips.Allocate(Shop), ServiceVips.Allocate(Shop.Reverse()));
        Assert.NotEqual(ServiceVips.Allocate(Shop)[("default", "catalog")], ServiceVips.Allocate(Shop)[("shop", "catalog")]);
    }

    [Fact]
    public void Adding_a_service_that_does_not_collide_moves_no_other()
    {
        var before = ServiceVips.Allocate(Shop);
        var after = ServiceVips.Allocate([.. Shop, ("default", "payments")]);
        foreach (var (service, vip) in before) Assert.Equal(vip, after[service]);
    }

    [Fact]
    public void Colliding_services_are_placed_by_name_order_next_to_each_other()
    {
        // Find two names that hash to one slot; the one that sorts first keeps the slot.
        var slots = new Dictionary<string, string>();
        (string A, string B)? pair = null;
        for (var i = 0; pair is null && i < 200_000; i++)
        {
            var name = "s" + i;
            var vip = ServiceVips.Allocate([("default", name)])[("default", name)];
            if (slots.TryGetValue(vip, out var other)) pair = (other, name);
            else slots[vip] = name;
        }
        Assert.NotNull(pair);
        var (a, b) = pair!.Value;
        var alone = ServiceVips.Allocate([("default", a)])[("default", a)];
        var both = ServiceVips.Allocate([("default", b), ("default", a)]);
        var first = string.CompareOrdinal(a, b) < 0 ? a : b;
        Assert.Equal(alone, both[("default", first)]);
        Assert.NotEqual(both[("default", a)], both[("default", b)]);
    }
}
