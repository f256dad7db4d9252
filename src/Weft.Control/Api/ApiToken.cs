using System.Security.Cryptography;
using System.Text;
using Weft.Control.Store;

namespace Weft.Control.Api;

/// <summary>
/// The admin token every call of the HTTP API that changes or reveals config must carry
/// (`Authorization: Bearer TOKEN`). Made at first start from 32 random bytes and kept in the data dir
/// as <see cref="FileName"/>, readable by its owner only; the CLI reads it from there or from
/// WEFT_TOKEN (docs/security.md, "The control plane's API").
/// </summary>
public sealed class ApiToken
{
    public const string FileName = "api-token";

    private readonly byte[] _value;

    private ApiToken(string value) => _value = Encoding.ASCII.GetBytes(value);

    /// <summary>The token in <paramref name="dataDir"/>, made there first if there is none.</summary>
    public static ApiToken LoadOrCreate(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (!File.Exists(path))
        {
            try
            {
                DurableFile.WriteAtomically(path, Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n"), DurableFile.OwnerOnly);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process made it first: read theirs.
            }
        }
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            File.SetUnixFileMode(path, DurableFile.OwnerOnly);
        var text = File.ReadAllText(path).Trim();
        if (text.Length < 32)
            throw new InvalidDataException($"{path}: the API token is {text.Length} characters, fewer than 32: delete the file to make a new one");
        return new ApiToken(text);
    }

    /// <summary>Whether an Authorization header carries this token, compared in constant time.</summary>
    public bool Accepts(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        var offered = Encoding.ASCII.GetBytes(authorization.AsSpan(scheme.Length).Trim().ToString());
        return CryptographicOperations.FixedTimeEquals(offered, _value);
    }
}
