using Weft.Cli.Up;

namespace Weft.Integration.Up;

public sealed class AppListeningTests
{
    [Fact]
    public void An_app_waits_for_its_upstreams_but_never_inside_a_cycle()
    {
        var awaits = AppListening.UpstreamsToAwait(
        [
            ("loadgen", ["web"]),
            ("web", ["catalog", "ratings"]),
            ("catalog", []),
            ("ratings", ["reviews"]),
            ("reviews", ["ratings"]),   // ratings <-> reviews call each other
        ]);
        Assert.Equal(["web"], awaits["loadgen"]);
        Assert.Equal(["catalog", "ratings"], awaits["web"]);
        Assert.Empty(awaits["catalog"]);
        Assert.Empty(awaits["ratings"]);
        Assert.Empty(awaits["reviews"]);
    }
}
