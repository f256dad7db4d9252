using System.Globalization;
using Weft.Protocol.Discovery;

namespace Weft.Proxy.Security.Authorization;

/// <summary>
/// The AuthorizationPolicies of one inbound listener, decided in Istio's order: every matching AUDIT
/// policy is counted; a matching DENY refuses; then, when there is any ALLOW policy, one must match.
/// With no policy at all everything is allowed, and <see cref="IsEmpty"/> lets the pipeline skip the step.
/// </summary>
internal sealed class AuthorizationTable
{
    public static readonly AuthorizationTable Empty = new([], [], [], 0);

    /// <summary>The 403 body when ALLOW policies exist and none matched.</summary>
    public const string NoAllowMessage = "access denied: no ALLOW AuthorizationPolicy of this workload matches the request\n";

    private readonly AuthorizationPolicyRuntime[] _deny;
    private readonly AuthorizationPolicyRuntime[] _allow;
    private readonly AuthorizationPolicyRuntime[] _audit;
    private readonly bool _matchesPaths;

    private AuthorizationTable(AuthorizationPolicyRuntime[] deny, AuthorizationPolicyRuntime[] allow, AuthorizationPolicyRuntime[] audit, int destinationPort)
    {
        _deny = deny;
        _allow = allow;
        _audit = audit;
        DestinationPort = destinationPort;
        IsEmpty = deny.Length + allow.Length + audit.Length == 0;
        _matchesPaths = deny.Concat(allow).Concat(audit).Any(p => p.MatchesPaths);
    }

    public bool IsEmpty { get; }

    /// <summary>The app's port, which rules' ports match.</summary>
    public int DestinationPort { get; }

    /// <summary>An HTTP request, on any codec: allowed, or false with the DENY that matched (null when no ALLOW did).</summary>
    public bool AllowsRequest(Mtls.PeerIdentity? peer, string method, string path, Pipeline.HeaderView headers,
        IAuthorizationObserver observer, out AuthorizationPolicyRuntime? deniedBy) =>
        Check(new AuthorizationRequest(DestinationPort, peer, method, path, headers), observer, out deniedBy);

    /// <summary>A TCP connection as it opens, from the caller's identity alone.</summary>
    public bool AllowsConnection(Mtls.PeerIdentity? peer, IAuthorizationObserver observer, out AuthorizationPolicyRuntime? deniedBy) =>
        Check(new AuthorizationRequest(DestinationPort, peer), observer, out deniedBy);

    private bool Check(in AuthorizationRequest request, IAuthorizationObserver observer, out AuthorizationPolicyRuntime? deniedBy)
    {
        deniedBy = null;
        var matchPath = _matchesPaths && request.IsHttp ? WithoutParameters(request.Path) : null;
        foreach (var policy in _audit)
        {
            if (policy.Matches(request, matchPath))
                observer.Audited(policy);
        }
        foreach (var policy in _deny)
        {
            if (policy.Matches(request, matchPath))
            {
                deniedBy = policy;
                return false;
            }
        }
        if (_allow.Length == 0)
            return true;
        foreach (var policy in _allow)
        {
            if (policy.Matches(request, matchPath))
                return true;
        }
        return false;
    }

    /// <summary>
    /// The path rules match: the normalized path with each segment's parameters (";jsessionid=1")
    /// left out, since Tomcat, Spring and Jetty serve "/admin;x" as "/admin". Allocates only for a path with ';'.
    /// </summary>
    public static string WithoutParameters(string path)
    {
        var semicolon = path.IndexOf(';', StringComparison.Ordinal);
        if (semicolon < 0)
            return path;
        var builder = new System.Text.StringBuilder(path.Length);
        var inParameters = false;
        foreach (var c in path)
        {
            if (c == '/')
                inParameters = false;
            else if (c == ';')
                inParameters = true;
            if (!inParameters)
                builder.Append(c);
        }
        return builder.ToString();
    }

    /// <summary>Null with the reasons when a policy is malformed (the whole config is then rejected).</summary>
    public static AuthorizationTable Build(string key, Listener spec, List<string> errors)
    {
        if (spec.AuthorizationPolicies.Count == 0)
            return spec.DestinationPort == 0 ? Empty : new AuthorizationTable([], [], [], (int)spec.DestinationPort);
        if (spec.DestinationPort > 65535)
            errors.Add(key + ": destination_port: " + spec.DestinationPort.ToString(CultureInfo.InvariantCulture) + " is not a valid port");
        // A rule on ports against no port would never hold: a DENY written with ports would never refuse.
        else if (spec.DestinationPort == 0 && spec.AuthorizationPolicies.Any(p => p.Rules.Any(r => r.Operations.Any(o => o.Ports.Count + o.NotPorts.Count != 0))))
            errors.Add(key + ": destination_port: required when a rule names ports");
        var deny = new List<AuthorizationPolicyRuntime>();
        var allow = new List<AuthorizationPolicyRuntime>();
        var audit = new List<AuthorizationPolicyRuntime>();
        for (var i = 0; i < spec.AuthorizationPolicies.Count; i++)
        {
            var policy = AuthorizationPolicyRuntime.Build(spec.AuthorizationPolicies[i],
                key + ": authorization_policies[" + i.ToString(CultureInfo.InvariantCulture) + "]", errors);
            switch (policy?.Action)
            {
                case AuthorizationAction.AuthzDeny: deny.Add(policy); break;
                case AuthorizationAction.AuthzAllow: allow.Add(policy); break;
                case AuthorizationAction.AuthzAudit: audit.Add(policy); break;
            }
        }
        return new AuthorizationTable([.. deny], [.. allow], [.. audit], (int)spec.DestinationPort);
    }
}

/// <summary>Told of every AUDIT policy that matched (the proxy's metrics and log).</summary>
internal interface IAuthorizationObserver
{
    void Audited(AuthorizationPolicyRuntime policy);
}
