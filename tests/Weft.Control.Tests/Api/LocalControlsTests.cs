using System.Net;
using Weft.Control.Api;
using Weft.Control.Store;
using Weft.Control.Tests.Store;

namespace Weft.Control.Tests.Api;

/// <summary>
/// The CLI finds a local control plane's token through its entry only while that control plane holds
/// its data dir, and entries of control planes gone without a goodbye are pruned. The entries live
/// under XDG_CONFIG_HOME, pointed here at a folder of this test's own (no other test of this
/// assembly uses them).
/// </summary>
public sealed class LocalControlsTests : IDisposable
{
    private readonly TempDir _config = new();
    private readonly string? _saved = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");

    public LocalControlsTests() => Environment.SetEnvironmentVariable("XDG_CONFIG_HOME", _config.Path);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("XDG_CONFIG_HOME", _saved);
        _config.Dispose();
    }

    [Fact]
    public void A_token_is_found_only_while_its_control_plane_holds_the_data_dir_and_dead_entries_are_pruned()
    {
        using var live = new TempDir();
        using var dead = new TempDir();
        ApiToken.LoadOrCreate(live.Path);
        ApiToken.LoadOrCreate(dead.Path);
        var control = new Uri("http://127.0.0.1:41001");
        using (var store = FileConfigStore.Open(live.Path))
        {
            var entry = LocalControls.Register(IPAddress.Loopback, 41001, live.Path);
            Assert.NotNull(entry);
            Assert.Equal(File.ReadAllText(Path.Combine(live.Path, ApiToken.FileName)).Trim(), LocalControls.FindToken(control));
            Assert.Equal(LocalControls.FindToken(control), LocalControls.FindToken(new Uri("http://localhost:41001")));
            Assert.Null(LocalControls.FindToken(new Uri("http://10.1.2.3:41001")));     // not this machine's loopback

            // A control plane that died without removing its entry: its data dir is held by nobody.
            var deadEntry = LocalControls.Register(IPAddress.Loopback, 41002, dead.Path);
            Assert.Null(LocalControls.FindToken(new Uri("http://127.0.0.1:41002")));

            // The next registration drops it, and keeps the live one.
            LocalControls.Register(IPAddress.Loopback, 41003, live.Path);
            Assert.False(File.Exists(deadEntry));
            Assert.True(File.Exists(entry));
        }
        // The store is closed: the live one is dead now too.
        Assert.Null(LocalControls.FindToken(control));
    }
}
