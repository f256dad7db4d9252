using Weft.Control.Discovery;

namespace Weft.Tests.Fakes;

internal static class StatusWaiter
{
    /// <summary>Completes when proxy <paramref name="id"/>'s record satisfies <paramref name="condition"/>; driven by the board's events, not polling.</summary>
    public static async Task<ProxyStatus> WaitForAsync(this ProxyStatusBoard board, string id, Func<ProxyStatus, bool> condition)
    {
        var done = new TaskCompletionSource<ProxyStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(ProxyStatus s)
        {
            if (s.Id == id && condition(s)) done.TrySetResult(s);
        }
        board.Changed += OnChanged;
        try
        {
            if (board.Find(id) is { } now && condition(now)) return now;
            return await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            board.Changed -= OnChanged;
        }
    }
}
