using Weft.Control.Store;
using Weft.Model.Resources;

namespace Weft.Control.Tests.Store;

public sealed class FileConfigStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private FileConfigStore Open() => FileConfigStore.Open(_dir.Path, TestCodec.Instance);

    private static ResourceKey Key(string name, string kind = "Widget") => new(kind, "default", name);

    [Fact]
    public async Task Each_accepted_change_is_the_next_numbered_revision()
    {
        using var store = Open();
        Assert.Equal(0, store.Current.Revision);

        var first = await store.ApplyAsync([TestResource.Of("a"), TestResource.Of("b")], dryRun: false);
        var second = await store.ApplyAsync([TestResource.Of("a", "changed"), TestResource.Of("b"), TestResource.Of("c")], dryRun: false);
        var third = await store.DeleteAsync([Key("b")], dryRun: false);

        Assert.Equal([1L, 2L, 3L], new[] { first.Revision, second.Revision, third.Revision });
        Assert.All(new[] { first, second, third }, r => Assert.True(r.NewRevision));
        Assert.Equal([ChangeAction.Configured, ChangeAction.Unchanged, ChangeAction.Created], second.Changes.Select(c => c.Action));
        Assert.Equal(ChangeAction.Deleted, Assert.Single(third.Changes).Action);
        Assert.Equal(3, store.Current.Revision);
        Assert.Equal(["a", "c"], store.Get("Widget").Select(r => r.Metadata.Name));

        var history = store.History();
        Assert.Equal(["apply", "apply", "delete"], history.Select(h => h.Cause));
        // The summary of a revision lists what changed, not what was merely re-sent.
        Assert.Equal(2, history[1].Changes.Count);
    }

    [Fact]
    public async Task Get_filters_by_kind_namespace_and_name()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a"), TestResource.Of("a", ns: "other"), TestResource.Of("a", kind: "Gadget")], dryRun: false);

        Assert.Equal(3, store.Get().Count);
        Assert.Equal(2, store.Get("Widget").Count);
        Assert.Single(store.Get("Widget", "other"));
        Assert.Single(store.Get("Widget", "default", "a"));
        Assert.Empty(store.Get("Widget", "default", "zzz"));
    }

    [Fact]
    public async Task A_no_op_apply_makes_no_revision_and_says_so()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);
        var changed = 0;
        store.Changed += _ => changed++;

        var again = await store.ApplyAsync([TestResource.Of("a")], dryRun: false);

        Assert.True(again.Ok);
        Assert.False(again.NewRevision);
        Assert.Equal(1, again.Revision);
        Assert.Equal(ChangeAction.Unchanged, Assert.Single(again.Changes).Action);
        Assert.Single(store.History());
        Assert.Equal(0, changed);
    }

    [Fact]
    public async Task A_dry_run_reports_the_changes_and_stores_nothing()
    {
        using var store = Open();
        var result = await store.ApplyAsync([TestResource.Of("a")], dryRun: true);

        Assert.True(result.DryRun);
        Assert.False(result.NewRevision);
        Assert.Equal(ChangeAction.Created, Assert.Single(result.Changes).Action);
        Assert.Equal(0, store.Current.Revision);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_dir.Path, "revisions")));
    }

    [Fact]
    public async Task Deleting_anything_absent_fails_the_whole_call_and_names_it()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);

        var result = await store.DeleteAsync([Key("a"), Key("ghost")], dryRun: false);

        Assert.False(result.Ok);
        Assert.Equal(StoreErrorCode.NotFound, result.Error!.Code);
        Assert.Contains("Widget default/ghost", result.Error.Message);
        Assert.Single(store.Get("Widget"));
        Assert.Equal(1, store.Current.Revision);
    }

    [Fact]
    public async Task Ignore_missing_deletes_what_exists()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);

        var result = await store.DeleteAsync([Key("a"), Key("ghost")], dryRun: false, ignoreMissing: true);

        Assert.True(result.Ok);
        Assert.Equal(2, result.Revision);
        Assert.Empty(store.Get());
    }

    [Fact]
    public async Task The_same_resource_twice_in_one_apply_is_refused()
    {
        using var store = Open();
        var result = await store.ApplyAsync([TestResource.Of("a"), TestResource.Of("a", "b")], dryRun: false);

        Assert.Equal(StoreErrorCode.Duplicate, result.Error!.Code);
        Assert.Empty(store.Get());
    }

    [Fact]
    public async Task Revisions_survive_a_new_store_on_the_same_directory()
    {
        using (var store = Open())
        {
            await store.ApplyAsync([TestResource.Of("a"), TestResource.Of("b")], dryRun: false);
            await store.ApplyAsync([TestResource.Of("a", "v2")], dryRun: false);
        }

        using var reopened = Open();

        Assert.Equal(2, reopened.Current.Revision);
        Assert.Equal("v2", ((TestResource)reopened.Current.Resources[Key("a")]).Value);
        Assert.Equal(2, reopened.Current.Resources.Count);
        Assert.Equal([1L, 2L], reopened.History().Select(h => h.Revision));
        Assert.Equal(ChangeAction.Configured, Assert.Single(reopened.History()[1].Changes).Action);
        var next = await reopened.ApplyAsync([TestResource.Of("c")], dryRun: false);
        Assert.Equal(3, next.Revision);
    }

    [Fact]
    public async Task A_torn_temp_file_from_a_crash_is_ignored_and_removed()
    {
        using (var store = Open()) await store.ApplyAsync([TestResource.Of("a")], dryRun: false);
        // What a crash between write and rename leaves behind: a half-written revision 2.
        var torn = Path.Combine(_dir.Path, "revisions", DurableFile.TempPrefix + "0000000002.json-deadbeef");
        await File.WriteAllTextAsync(torn, "{\"revision\": 2, \"time\": \"2026-");

        using var reopened = Open();

        Assert.Equal(1, reopened.Current.Revision);
        Assert.False(File.Exists(torn));
        Assert.Equal(2, (await reopened.ApplyAsync([TestResource.Of("b")], dryRun: false)).Revision);
    }

    [Fact]
    public async Task A_damaged_revision_file_stops_the_store_with_its_name()
    {
        using (var store = Open()) await store.ApplyAsync([TestResource.Of("a")], dryRun: false);
        var file = Path.Combine(_dir.Path, "revisions", "0000000001.json");
        await File.WriteAllTextAsync(file, "{ not json");

        var e = Assert.Throws<InvalidDataException>(() => Open());
        Assert.Contains(file, e.Message);
    }

    [Fact]
    public async Task Rollback_defaults_to_the_revision_before_the_latest_and_is_a_new_revision()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);
        await store.ApplyAsync([TestResource.Of("a", "v2"), TestResource.Of("b")], dryRun: false);

        var result = await store.RollbackAsync(null);

        Assert.True(result.NewRevision);
        Assert.Equal(3, result.Revision);
        Assert.Equal("a", ((TestResource)store.Current.Resources[Key("a")]).Value);
        Assert.False(store.Current.Resources.ContainsKey(Key("b")));
        Assert.Equal("rollback to 1", store.History()[^1].Cause);
        Assert.Contains(result.Changes, c => c.Key == Key("b") && c.Action == ChangeAction.Deleted);
        Assert.Contains(result.Changes, c => c.Key == Key("a") && c.Action == ChangeAction.Configured);
    }

    [Fact]
    public async Task Rollback_to_an_explicit_revision_and_to_zero()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);
        await store.ApplyAsync([TestResource.Of("b")], dryRun: false);
        await store.ApplyAsync([TestResource.Of("c")], dryRun: false);

        await store.RollbackAsync(2);
        Assert.Equal(["a", "b"], store.Get().Select(r => r.Metadata.Name));

        // Revision 0 is the empty config: the first apply can be undone.
        await store.RollbackAsync(0);
        Assert.Empty(store.Get());
        Assert.Equal(5, store.Current.Revision);
        store.Dispose();

        using var reopened = Open();
        Assert.Empty(reopened.Get());
        Assert.Equal("rollback to 0", reopened.History()[^1].Cause);
    }

    [Fact]
    public async Task Rollback_to_an_unknown_revision_is_an_error_that_names_it()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);

        var result = await store.RollbackAsync(7);

        Assert.Equal(StoreErrorCode.UnknownRevision, result.Error!.Code);
        Assert.Contains("7", result.Error.Message);
        Assert.Equal(1, store.Current.Revision);
        Assert.Equal(StoreErrorCode.UnknownRevision, (await store.RollbackAsync(-1)).Error!.Code);
    }

    [Fact]
    public async Task Rollback_on_an_empty_store_is_an_error()
    {
        using var store = Open();
        var result = await store.RollbackAsync(null);
        Assert.Equal(StoreErrorCode.UnknownRevision, result.Error!.Code);
    }

    [Fact]
    public async Task Changed_fires_after_the_revision_is_on_disk()
    {
        using var store = Open();
        var seen = new List<(long Revision, bool OnDisk)>();
        store.Changed += s => seen.Add((s.Revision, File.Exists(Path.Combine(_dir.Path, "revisions", $"{s.Revision:D10}.json"))));

        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);

        Assert.Equal([(1L, true)], seen);
    }

    [Fact]
    public async Task A_throwing_subscriber_does_not_fail_a_durable_change()
    {
        using var store = Open();
        var second = false;
        store.Changed += _ => throw new InvalidOperationException("boom");
        store.Changed += _ => second = true;

        var result = await store.ApplyAsync([TestResource.Of("a")], dryRun: false);

        Assert.True(result.NewRevision);
        Assert.True(second);
    }

    [Fact]
    public async Task Concurrent_applies_serialize_into_distinct_revisions()
    {
        using var store = Open();
        var revisions = new List<long>();
        store.Changed += s => { lock (revisions) revisions.Add(s.Revision); };

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => store.ApplyAsync([TestResource.Of($"r{i}")], dryRun: false))));

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), results.Select(r => r.Revision).Order());
        // Subscribers see revisions in order, each exactly once.
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), revisions);
        Assert.Equal(20, store.Get().Count);
        store.Dispose();
        using var reopened = Open();
        Assert.Equal(20, reopened.Current.Revision);
        Assert.Equal(20, reopened.Get().Count);
    }

    [Fact]
    public async Task A_failed_write_changes_nothing_and_the_next_write_succeeds()
    {
        using var store = Open();
        await store.ApplyAsync([TestResource.Of("a")], dryRun: false);
        // A directory where revision 2 must go makes the rename fail, like a full or broken disk would.
        var blocker = Path.Combine(_dir.Path, "revisions", "0000000002.json");
        Directory.CreateDirectory(blocker);
        var changed = 0;
        store.Changed += _ => changed++;

        await Assert.ThrowsAnyAsync<IOException>(() => store.ApplyAsync([TestResource.Of("b")], dryRun: false));

        Assert.Equal(1, store.Current.Revision);
        Assert.Single(store.History());
        Assert.Equal(0, changed);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(_dir.Path, "revisions"))); // no temp file left behind
        Directory.Delete(blocker);
        Assert.Equal(2, (await store.ApplyAsync([TestResource.Of("b")], dryRun: false)).Revision);
    }

    [Fact]
    public async Task A_revision_file_holding_another_number_stops_the_store()
    {
        using (var store = Open()) await store.ApplyAsync([TestResource.Of("a")], dryRun: false);
        var revisions = Path.Combine(_dir.Path, "revisions");
        File.Copy(Path.Combine(revisions, "0000000001.json"), Path.Combine(revisions, "0000000002.json"));

        var e = Assert.Throws<InvalidDataException>(() => Open());
        Assert.Contains("0000000002.json", e.Message);
    }

    [Fact]
    public void A_second_store_on_the_same_directory_is_refused_until_the_first_closes()
    {
        var first = Open();

        var e = Assert.Throws<IOException>(() => Open());
        Assert.Contains("in use by another control plane", e.Message);

        first.Dispose();
        using var second = Open();
    }
}
