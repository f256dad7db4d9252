using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Weft.Control.Api;

namespace Weft.Cli.Commands;

/// <summary>The control plane could not be reached at all; the message is the one line the user sees.</summary>
internal sealed class ControlUnreachableException(string message, Exception inner) : Exception(message, inner);

/// <summary>One answer of the HTTP API: its status and raw JSON body.</summary>
internal sealed record ApiResponse(HttpStatusCode Status, string Body)
{
    public bool Ok => (int)Status is >= 200 and < 300;

    public T Read<T>() => JsonSerializer.Deserialize<T>(Body, ApiJson.Options)
        ?? throw new InvalidDataException($"the control plane answered {(int)Status} with an empty body");

    /// <summary>The server's own words for a 4xx/5xx, or the status when it sent none.</summary>
    public string ErrorMessage()
    {
        try
        {
            if (JsonSerializer.Deserialize<ApiError>(Body, ApiJson.Options)?.Error is { Length: > 0 } message) return message;
        }
        catch (JsonException) { }
        return $"the control plane answered {(int)Status} {Status}";
    }
}

/// <summary>Client of /api/v1 for the config commands.</summary>
internal sealed class ApiClient : IDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    private readonly HttpClient _http;

    /// <summary>Where the API token comes from when none is given: this variable, else the local control plane's data dir.</summary>
    public const string TokenEnvironmentVariable = "WEFT_TOKEN";

    private readonly Func<string?> _findToken;
    private string? _token;

    /// <param name="control">The control plane's API.</param>
    /// <param name="dataDir">
    /// Its data dir, when the caller started it (`weft up`): the token is read from there. Otherwise it
    /// is WEFT_TOKEN or, for a control plane on this machine, the data dir it registered.
    /// </param>
    public ApiClient(Uri control, string? dataDir = null)
    {
        Control = control;
        // Timeouts are per call (a /sync long-poll waits longer than a get).
        _http = new HttpClient { BaseAddress = new Uri(control, ApiEndpoints.Prefix + "/"), Timeout = Timeout.InfiniteTimeSpan };
        _findToken = dataDir is not null
            ? () => ReadToken(Path.Combine(dataDir, ApiToken.FileName))
            : () => Environment.GetEnvironmentVariable(TokenEnvironmentVariable) is { Length: > 0 } given ? given.Trim() : LocalControls.FindToken(control);
    }

    private static string? ReadToken(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;    // not made yet: the control plane is starting
        }
    }

    public Uri Control { get; }

    public Task<ApiResponse> GetAsync(string path, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Get, path), timeout ?? DefaultTimeout, ct);

    public Task<ApiResponse> PostAsync<T>(string path, T body, CancellationToken ct) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: ApiJson.Options) }, DefaultTimeout, ct);

    /// <summary>A POST whose path says it all (no body).</summary>
    public Task<ApiResponse> PostAsync(string path, CancellationToken ct) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path), DefaultTimeout, ct);

    public Task<ApiResponse> PutAsync<T>(string path, T body, CancellationToken ct, TimeSpan? timeout = null) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Put, path) { Content = JsonContent.Create(body, options: ApiJson.Options) }, timeout ?? DefaultTimeout, ct);

    public Task<ApiResponse> DeleteAsync(string path, CancellationToken ct) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Delete, path), DefaultTimeout, ct);

    private async Task<ApiResponse> SendAsync(HttpRequestMessage request, TimeSpan timeout, CancellationToken ct)
    {
        using var _ = request;
        // Looked up until found: a control plane this process starts makes its token as it starts.
        if ((_token ??= _findToken()) is { } token)
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await _http.SendAsync(request, cts.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false);
            return new ApiResponse(response.StatusCode, body);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(Reason(e), e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw Unreachable($"no answer within {timeout.TotalSeconds:0}s", e);
        }
    }

    private ControlUnreachableException Unreachable(string reason, Exception e) =>
        new($"weft: cannot reach the control plane at {Control.GetLeftPart(UriPartial.Authority)}: {reason} (is `weft up` or `weft control` running?)", e);

    private static string Reason(HttpRequestException e) => e.InnerException switch
    {
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "connection refused",
        SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData } => "host not found",
        SocketException { SocketErrorCode: SocketError.TimedOut } => "connection timed out",
        SocketException s => s.Message,
        _ => e.Message,
    };

    public void Dispose() => _http.Dispose();
}
