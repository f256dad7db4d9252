using System.Globalization;
using System.Runtime.InteropServices;

namespace Weft.Proxy.Hosting;

/// <summary>
/// For weft's own children (`weft control`, `weft proxy` started by `weft up`): a token that fires
/// when the `weft up` that started us is gone, so we shut down instead of lingering. The kernel
/// guard (ChildLauncher) already kills us then where setpriv exists; this is the second line where
/// it does not, and it lets the host drain instead of dying mid-request.
/// </summary>
public static class ParentWatch
{
    public const string Variable = "WEFT_PARENT_PID";
    private static readonly TimeSpan CheckEvery = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Fires when our parent is no longer the WEFT_PARENT_PID process; never fires when that is unset
    /// (weft run by hand). Usage: <c>ParentWatch.WhenParentExits().Register(lifetime.StopApplication)</c>.
    /// </summary>
    public static CancellationToken WhenParentExits(TimeProvider? time = null)
    {
        if (Environment.GetEnvironmentVariable(Variable) is not { } text
            || !int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parent)
            || !OperatingSystem.IsLinux())
            return CancellationToken.None;
        return WhenParentIsNot(parent, time);
    }

    public static CancellationToken WhenParentIsNot(int parent, TimeProvider? time = null)
    {
        // Between us and `weft up` there are only execs (setpriv, setsid), so our parent is it.
        // When it dies we are re-parented, and the parent pid changes: no pid-reuse guesswork.
        var source = new CancellationTokenSource();
        ITimer? timer = null;
        timer = (time ?? TimeProvider.System).CreateTimer(_ =>
        {
            if (ParentProcessId() == parent) return;
            source.Cancel();
            timer?.Dispose();
        }, null, CheckEvery, CheckEvery);
        return source.Token;
    }

    /// <summary>getppid(2): changes to the reaper's pid once our parent has died.</summary>
    public static int ParentProcessId() => getppid();

    [DllImport("libc")]
#pragma warning disable SYSLIB1054 // LibraryImport needs AllowUnsafeBlocks, which the project does not set.
    private static extern int getppid();
#pragma warning restore SYSLIB1054
}
