using Weft.Control.Ca;
using Weft.Control.Discovery;
using Weft.Protocol.Discovery;
using Weft.Protocol.Grpc;
using Weft.Tests.Fakes;

namespace Weft.Control.Tests.Discovery;

/// <summary>The rules a discovery stream passes before its node is served (docs/security.md, "Discovery"), with real bootstrap tokens.</summary>
public sealed class NodeAdmissionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("weft-admission-").FullName;
    private readonly BootstrapTokens _tokens;
    private readonly NodeAdmission _admission;
    private readonly string _catalogToken;

    public NodeAdmissionTests()
    {
        _tokens = BootstrapTokens.Open(_dir);
        _admission = new NodeAdmission(new CallerAuthentication(_tokens, authority: null));
        _catalogToken = _tokens.Create(new ServiceAccountRef("default", "catalog"), DateTimeOffset.UtcNow);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static FakeCallContext Call(string? token, string peer = "127.0.0.1:41000") =>
        new(CancellationToken.None, token is null ? null : new Dictionary<string, string> { ["authorization"] = "Bearer " + token }, peer);

    private RpcException Refused(Node node, FakeCallContext call) => Assert.Throws<RpcException>(() => _admission.Admit(node, call));

    [Fact]
    public void A_node_of_its_own_service_account_from_its_own_address_is_admitted()
    {
        var node = Resources.Node("catalog-0", service: "catalog", address: "127.0.0.1");
        node.Labels["app"] = "catalog";
        Assert.Equal(new ServiceAccountRef("default", "catalog"), _admission.Admit(node, Call(_catalogToken)));
        // An IPv4 peer seen through a dual-stack socket is the same address.
        Assert.Equal("catalog", _admission.Admit(node, Call(_catalogToken, "[::ffff:127.0.0.1]:41000")).Name);
    }

    [Theory]
    [InlineData(null, "or `authorization: Bearer <bootstrap token>`")]
    [InlineData("weft-bt-00", "not one this control plane made")]
    public void Without_a_token_this_control_plane_made_a_stream_is_unauthenticated(string? token, string reason)
    {
        var refused = Refused(Resources.Node("catalog-0"), Call(token));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Contains(reason, refused.Status.Detail);
    }

    [Theory]
    [InlineData("payments", "default", "claims service default/payments, but its token proves service account default/catalog")]
    [InlineData("catalog", "shop", "claims service shop/catalog")]
    public void A_token_registers_only_its_own_service_accounts_service(string service, string ns, string reason)
    {
        var node = Resources.Node("x-0", service: service);
        node.Namespace = ns;
        var refused = Refused(node, Call(_catalogToken));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains(reason, refused.Status.Detail);
    }

    [Fact]
    public void An_app_label_naming_another_service_is_refused()
    {
        // Without a Service resource, payments selects {app: payments}: the label would join its endpoints.
        var node = Resources.Node("catalog-0", service: "catalog");
        node.Labels["app"] = "payments";
        Assert.Contains("label app=payments", Refused(node, Call(_catalogToken)).Status.Detail);
    }

    [Theory]
    [InlineData("10.9.9.9", "127.0.0.1:41000", "claims address 10.9.9.9, but its stream comes from 127.0.0.1")]
    [InlineData("127.0.0.1", "10.0.0.7:41000", "claims address 127.0.0.1, but its stream comes from 10.0.0.7")]
    [InlineData("catalog.local", "127.0.0.1:41000", "claims address catalog.local")]
    [InlineData("127.0.0.1", "", "source address is unknown")]
    public void A_node_registers_only_the_address_its_stream_comes_from(string address, string peer, string reason)
    {
        var refused = Refused(Resources.Node("catalog-0", address: address), Call(_catalogToken, peer));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains(reason, refused.Status.Detail);
    }
}
