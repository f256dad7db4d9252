using System.Text;

namespace Weft.Proxy.Pipeline;

/// <summary>
/// A connection's last request target, split and its path normalized: clients repeat their targets,
/// and a repeated one costs no allocation. Each codec keeps one per connection (its reader's thread).
/// </summary>
internal sealed class RequestTargetCache
{
    private byte[] _last = [];
    private int _lastLength = -1;
    private bool _lastKeep;
    private string? _path;
    private string _query = "";
    private string? _authority;

    /// <summary>
    /// Sets the context's path and query from <paramref name="target"/> (an absolute-form target's
    /// authority becomes the request's Host, RFC 9112 3.2.2); false when the target is malformed or its
    /// path is refused (the context then carries "/").
    /// </summary>
    public bool Resolve(RequestContext ctx, ReadOnlySpan<byte> target, bool keepAmbiguous)
    {
        if (_lastLength != target.Length || keepAmbiguous != _lastKeep || !target.SequenceEqual(_last.AsSpan(0, target.Length)))
        {
            _authority = null;
            if (!RequestTarget.TrySplit(target, out var path, out var query, out var authority))
            {
                _path = null;
            }
            else
            {
                _path = RequestTarget.Normalize(target[path], keepAmbiguous, out _);
                _query = Encoding.Latin1.GetString(target[query]);
                if (authority.End.Value > authority.Start.Value)
                    _authority = Encoding.Latin1.GetString(target[authority]);
            }
            if (_last.Length < target.Length)
                _last = new byte[Math.Max(target.Length, 64)];
            target.CopyTo(_last);
            _lastLength = target.Length;
            _lastKeep = keepAmbiguous;
        }
        if (_authority is not null)
            ctx.Headers.Set("Host", _authority);
        ctx.Path = _path ?? "/";
        ctx.Query = _query;
        return _path is not null;
    }
}
