using System.Runtime.InteropServices;

namespace Weft.Proxy.Transport;

/// <summary>
/// A socket descriptor the loop transport owns. Every recv/send holds a reference, so a close from
/// another thread waits for the call in flight instead of freeing a number the kernel may reuse at
/// once. Closing is a plain close(2): an orderly FIN, never the abortive reset a Socket's dispose
/// may send.
/// </summary>
internal sealed class LoopSocketHandle : SafeHandle
{
    public LoopSocketHandle(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => Native.close((int)handle) == 0;
}
