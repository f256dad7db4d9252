using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Weft.Integration.Harness;

/// <summary>
/// Bootstrap token files for sidecars a test starts by hand (`weft up` makes its own): the control
/// plane admits a proxy only with its service account's token (docs/security.md, "Discovery").
/// </summary>
internal static class TokenFiles
{
    /// <summary>
    /// A file holding a new token for service account <paramref name="ns"/>/<paramref name="serviceAccount"/>,
    /// made through the API of the control plane at <paramref name="apiPort"/> with the admin token of
    /// <paramref name="dataDir"/>. The file sits beside the data dir, one per account (later calls reuse it).
    /// </summary>
    public static string Create(int apiPort, string dataDir, string serviceAccount, string ns = "default")
    {
        var path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dataDir))!, $"{ns}.{serviceAccount}.token");
        lock (typeof(TokenFiles))
        {
            if (File.Exists(path)) return path;
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{apiPort}/api/v1/tokens")
            {
                Content = new StringContent(JsonSerializer.Serialize(new { @namespace = ns, serviceAccount }), Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "api-token")).Trim());
            using var response = http.Send(request);
            var body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"POST /api/v1/tokens for {ns}/{serviceAccount}: {(int)response.StatusCode} {body}");
            File.WriteAllText(path, JsonDocument.Parse(body).RootElement.GetProperty("token").GetString() + "\n");
            return path;
        }
    }
}
