// Many of these tests run a real proxy and backends in-process and wait on them with deadlines; on a
// 2-core machine, running test classes side by side made those waits time out now and then (seen:
// an h2c stream, a detection window) with nothing wrong in the code. One class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
