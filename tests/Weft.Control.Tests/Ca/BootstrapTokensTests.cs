using Weft.Control.Ca;
using Weft.Control.Tests.Store;

namespace Weft.Control.Tests.Ca;

/// <summary>Bootstrap tokens: kept as hashes, several per account, the oldest dropped past the limit, read back after a restart.</summary>
public sealed class BootstrapTokensTests : IDisposable
{
    private static readonly ServiceAccountRef Catalog = new("default", "catalog");
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Each_token_proves_its_account_until_it_is_one_of_more_than_the_kept_number()
    {
        var tokens = BootstrapTokens.Open(_dir.Path);
        var start = DateTimeOffset.UnixEpoch;
        var made = Enumerable.Range(0, BootstrapTokens.KeptPerAccount + 1).Select(i => tokens.Create(Catalog, start.AddSeconds(i))).ToList();
        var payments = tokens.Create(new ServiceAccountRef("shop", "payments"), start);

        Assert.Null(tokens.Verify("Bearer " + made[0]));
        Assert.All(made.Skip(1), t => Assert.Equal(Catalog, tokens.Verify("Bearer " + t)));
        Assert.Equal(new ServiceAccountRef("shop", "payments"), tokens.Verify("Bearer " + payments));
        Assert.Null(tokens.Verify(made[1]));        // no scheme
        Assert.Null(tokens.Verify(null));

        // After a restart, the same; and the file holds no token.
        var reopened = BootstrapTokens.Open(_dir.Path);
        Assert.Equal(Catalog, reopened.Verify("Bearer " + made[^1]));
        var file = File.ReadAllText(Path.Combine(_dir.Path, BootstrapTokens.FileName));
        Assert.DoesNotContain(made[^1], file);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir.Path, BootstrapTokens.FileName)));
    }

    [Fact]
    public void A_damaged_token_file_is_an_error_naming_it()
    {
        File.WriteAllText(Path.Combine(_dir.Path, BootstrapTokens.FileName), "{ not json");
        var e = Assert.Throws<InvalidDataException>(() => BootstrapTokens.Open(_dir.Path));
        Assert.Contains(BootstrapTokens.FileName, e.Message);
    }
}
