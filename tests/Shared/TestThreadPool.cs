using System.Runtime.CompilerServices;

namespace Weft.Tests.Shared;

// Test classes run in parallel on a 2-core machine, many awaiting real sockets and processes while
// others block briefly (process waits, synchronous reads). With the thread pool's default minimum
// (one thread per core) a burst of blocking calls starves it, and new threads come only a couple a
// second: waits then time out with nothing wrong in the code under test. A higher floor removes that.
internal static class TestThreadPool
{
    [ModuleInitializer]
    internal static void RaiseMinimum()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
    }
}
