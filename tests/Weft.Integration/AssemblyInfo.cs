// Whole meshes are dozens of processes: on a 2-core machine two at once would only make each slow
// and flaky, so test classes here run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
