using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Xunit.Abstractions;

namespace Weft.Integration.DataPlane;

/// <summary>
/// 100 MB each way through two sidecars, hashed end to end. Neither proxy's peak memory may grow by
/// anything near the body size: the bodies stream, they are never buffered whole.
/// </summary>
[Collection(DataPlaneCollection.Name)]
public sealed class LargeBodyTests(DataPlaneMesh fixture, ITestOutputHelper log)
{
    private const long Size = 100L * 1024 * 1024;
    private const long WarmUpSize = 16L * 1024 * 1024;
    // A proxy that held the body would grow by 100 MB or more; streaming costs buffers and gen0 slack
    // (workstation GC lets ~20-30 MB of garbage pile up between collections): under half the body proves it.
    private const long MaxGrowth = 50L * 1024 * 1024;
    private TwoSidecars Mesh => fixture.Mesh;

    [Fact]
    public async Task A_100_MB_upload_streams_through_both_sidecars()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await WarmUpAsync(http);
        var before = PeakRss();
        var clock = Stopwatch.StartNew();
        using var response = await http.PostAsync(Mesh.Outbound("web", "/sha256"), new PatternContent(Size));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.Content.ReadAsStringAsync();
        log.WriteLine($"upload: {clock.ElapsedMilliseconds} ms; peak RSS before {Mb(before)}, after {Mb(PeakRss())}");
        Assert.Equal($"{Size} {ExpectedHash()}", answer);
        AssertNoWholeBodyBuffering(before);
    }

    [Fact]
    public async Task A_100_MB_download_streams_through_both_sidecars()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        await WarmUpAsync(http);
        var before = PeakRss();
        var clock = Stopwatch.StartNew();
        using var response = await http.GetAsync(Mesh.Outbound("web", $"/bytes?n={Size}"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        log.WriteLine($"download: {clock.ElapsedMilliseconds} ms; peak RSS before {Mb(before)}, after {Mb(PeakRss())}");
        Assert.Equal(Size, total);
        Assert.Equal(ExpectedHash(), Convert.ToHexStringLower(hash.GetHashAndReset()));
        AssertNoWholeBodyBuffering(before);
    }

    /// <summary>
    /// The proxies' first large transfer grows their heaps and thread pools to a steady state whatever
    /// the body size; measured growth starts after it, so it says something about the 100 MB alone.
    /// </summary>
    private async Task WarmUpAsync(HttpClient http)
    {
        using (var up = await http.PostAsync(Mesh.Outbound("web", "/sha256"), new PatternContent(WarmUpSize)))
            Assert.Equal(HttpStatusCode.OK, up.StatusCode);
        var down = await http.GetByteArrayAsync(Mesh.Outbound("web", $"/bytes?n={WarmUpSize}"));
        Assert.Equal(WarmUpSize, down.Length);
    }

    private (long Client, long Server) PeakRss() =>
        (TwoSidecars.PeakRss(Mesh.Client.Process.Pid), TwoSidecars.PeakRss(Mesh.Server("web").Process.Pid));

    private void AssertNoWholeBodyBuffering((long Client, long Server) before)
    {
        var after = PeakRss();
        Assert.True(after.Client - before.Client < MaxGrowth, $"client sidecar peak RSS grew {Mb(after.Client - before.Client)} MB");
        Assert.True(after.Server - before.Server < MaxGrowth, $"server sidecar peak RSS grew {Mb(after.Server - before.Server)} MB");
    }

    private static string Mb((long A, long B) v) => $"{Mb(v.A)}/{Mb(v.B)} MB";
    private static long Mb(long bytes) => bytes / (1024 * 1024);

    private static string ExpectedHash()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        for (long offset = 0; offset < Size; offset += buffer.Length)
        {
            var n = (int)Math.Min(buffer.Length, Size - offset);
            TestApp.Fill(buffer.AsSpan(0, n), offset);
            hash.AppendData(buffer, 0, n);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The /bytes pattern generated as it is sent: the test never holds the body either.</summary>
    private sealed class PatternContent(long size) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var buffer = new byte[64 * 1024];
            for (long offset = 0; offset < size; offset += buffer.Length)
            {
                var n = (int)Math.Min(buffer.Length, size - offset);
                TestApp.Fill(buffer.AsSpan(0, n), offset);
                await stream.WriteAsync(buffer.AsMemory(0, n));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = size;
            return true;
        }
    }
}
