using System.Text;
using Weft.Proxy.Pipeline;

namespace Weft.Proxy.Tests.Pipeline;

public sealed class PathNormalizerTests
{
    /// <summary>The path the app would receive, or null when rejected (reason returned).</summary>
    private static (PathVerdict Verdict, string? Path, string? Reason) Run(string path, bool keep = false)
    {
        var input = Encoding.ASCII.GetBytes(path);
        var output = new byte[input.Length];
        var verdict = PathNormalizer.Normalize(input, keep, output, out var written, out var reason);
        return verdict switch
        {
            PathVerdict.Unchanged => (verdict, path, reason),
            PathVerdict.Normalized => (verdict, Encoding.ASCII.GetString(output, 0, written), reason),
            _ => (verdict, null, reason),
        };
    }

    private static void AssertNormalized(string path, string expected, bool keep = false)
    {
        var (verdict, result, reason) = Run(path, keep);
        Assert.Equal(PathVerdict.Normalized, verdict);
        Assert.Null(reason);
        Assert.Equal(expected, result);
    }

    private static void AssertUnchanged(string path, bool keep = false)
    {
        var input = Encoding.ASCII.GetBytes(path);
        var verdict = PathNormalizer.Normalize(input, keep, new byte[input.Length], out var written, out var reason);
        Assert.Equal(PathVerdict.Unchanged, verdict);
        Assert.Equal(input.Length, written);
        Assert.Null(reason);
    }

    private static void AssertRejected(string path, string reason, bool keep = false)
    {
        var input = Encoding.ASCII.GetBytes(path);
        var verdict = PathNormalizer.Normalize(input, keep, new byte[input.Length], out var written, out var why);
        Assert.Equal(PathVerdict.Rejected, verdict);
        Assert.Equal(0, written);
        Assert.Equal(reason, why);
    }

    // --- the attacks that motivated it -------------------------------------------------------------

    [Theory]
    [InlineData("/public/..;/secret", PathNormalizer.DotSegmentWithParameters)]
    [InlineData("/public/..%2Fsecret", PathNormalizer.EncodedSlash)]
    [InlineData("/public/..%5Csecret", PathNormalizer.EncodedBackslash)]
    [InlineData("/public/..\\secret", PathNormalizer.Backslash)]
    public void The_four_public_to_secret_attacks_are_rejected_by_default(string path, string reason) =>
        AssertRejected(path, reason);

    [Theory]
    [InlineData("/public/..;/secret", "/public/..;/secret")]
    [InlineData("/public/..%2fsecret", "/public/..%2Fsecret")]
    [InlineData("/public/..%5csecret", "/public/..%5Csecret")]
    [InlineData("/public/..\\secret", "/public/..\\secret")]
    public void Kept_attacks_are_forwarded_as_routed_with_no_dot_segment_resolved(string path, string expected)
    {
        var (verdict, result, _) = Run(path, keep: true);
        Assert.NotEqual(PathVerdict.Rejected, verdict);
        Assert.Equal(expected, result);
    }

    // --- the common case ---------------------------------------------------------------------------

    [Theory]
    [InlineData("/")]
    [InlineData("/api/v1/items")]
    [InlineData("/a/")]
    [InlineData("/a;b/c")]
    [InlineData("/x/..y;z")]
    [InlineData("/.well-known/acme")]
    [InlineData("/a/.b/..c/...")]
    [InlineData("/a:b@c!$&'()*+,=")]
    [InlineData("/%20")]
    [InlineData("/%3A%C3%A9")]
    public void Normal_paths_are_unchanged(string path) => AssertUnchanged(path);

    [Fact]
    public void Unchanged_fast_path_leaves_output_untouched()
    {
        var input = "/api/v1/items"u8;
        var output = new byte[input.Length];
        Array.Fill(output, (byte)'#');
        Assert.Equal(PathVerdict.Unchanged, PathNormalizer.Normalize(input, false, output, out _, out _));
        Assert.All(output, b => Assert.Equal((byte)'#', b));
    }

    // --- rule 1: percent-encoding ------------------------------------------------------------------

    [Theory]
    [InlineData("/%41", "/A")]
    [InlineData("/%61%7A%30%39", "/az09")]
    [InlineData("/%7E", "/~")]
    [InlineData("/%7e%2d%5F%2E", "/~-_.")]
    [InlineData("/a%2Db", "/a-b")]
    public void Encoded_unreserved_characters_are_decoded(string path, string expected) =>
        AssertNormalized(path, expected);

    [Theory]
    [InlineData("/%3a", "/%3A")]
    [InlineData("/%c3%a9", "/%C3%A9")]
    [InlineData("/%Aa%aA", "/%AA%AA")]
    [InlineData("/%25", "/%25")]
    [InlineData("/%2541", "/%2541")]
    [InlineData("/%3b", "/%3B")]
    public void Other_encodings_stay_encoded_with_upper_case_hex(string path, string expected)
    {
        var (verdict, result, _) = Run(path);
        Assert.NotEqual(PathVerdict.Rejected, verdict);
        Assert.Equal(expected, result);
    }

    [Fact]
    public void Space_stays_encoded() => AssertUnchanged("/a%20b");

    [Theory]
    [InlineData("/%")]
    [InlineData("/%4")]
    [InlineData("/a%4")]
    [InlineData("/%G1")]
    [InlineData("/%1G")]
    [InlineData("/%%41")]
    [InlineData("/% 1")]
    [InlineData("/a/%/b")]
    public void Malformed_percent_encoding_is_rejected(string path) =>
        AssertRejected(path, PathNormalizer.BadPercent);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Encoded_nul_is_rejected_even_when_keeping(bool keep) =>
        AssertRejected("/a%00b", PathNormalizer.EncodedNul, keep);

    // --- rule 2: slashes and backslashes -----------------------------------------------------------

    [Theory]
    [InlineData("/a%2Fb", PathNormalizer.EncodedSlash)]
    [InlineData("/a%2fb", PathNormalizer.EncodedSlash)]
    [InlineData("/a%5Cb", PathNormalizer.EncodedBackslash)]
    [InlineData("/a%5cb", PathNormalizer.EncodedBackslash)]
    [InlineData("/a\\b", PathNormalizer.Backslash)]
    [InlineData("/..%2F", PathNormalizer.EncodedSlash)]
    [InlineData("/..%5C", PathNormalizer.EncodedBackslash)]
    [InlineData("\\", PathNormalizer.NotAbsolute)]
    public void Slash_lookalikes_are_rejected_by_default(string path, string reason) =>
        AssertRejected(path, reason);

    [Theory]
    [InlineData("/a%2fb", "/a%2Fb")]
    [InlineData("/a%5cb", "/a%5Cb")]
    [InlineData("/a%2F..", "/a%2F..")]
    [InlineData("/a/..%2F", "/a/..%2F")]
    [InlineData("/a/..%5c", "/a/..%5C")]
    [InlineData("/a/%2F/..", "/a/")]
    [InlineData("/a\\..\\b", "/a\\..\\b")]
    public void Kept_slash_lookalikes_are_segment_bytes_not_separators(string path, string expected)
    {
        var (verdict, result, _) = Run(path, keep: true);
        Assert.NotEqual(PathVerdict.Rejected, verdict);
        Assert.Equal(expected, result);
    }

    [Fact]
    public void Kept_upper_case_encoded_slash_is_unchanged() => AssertUnchanged("/a%2Fb%5Cc", keep: true);

    // --- rule 3: dot segments ----------------------------------------------------------------------

    [Theory]
    [InlineData("/a/./b", "/a/b")]
    [InlineData("/a/../b", "/b")]
    [InlineData("/..", "/")]
    [InlineData("/.", "/")]
    [InlineData("/a/..", "/")]
    [InlineData("/a/.", "/a/")]
    [InlineData("/a/b/..", "/a/")]
    [InlineData("/a/b/../../..", "/")]
    [InlineData("/../a", "/a")]
    [InlineData("/a/b/../c/./d", "/a/c/d")]
    [InlineData("/a/b/c/./../../g", "/a/g")]
    [InlineData("/./a/./", "/a/")]
    [InlineData("/a/./.", "/a/")]
    [InlineData("/a/../..//b", "/b")]
    public void Dot_segments_are_removed(string path, string expected) => AssertNormalized(path, expected);

    [Theory]
    [InlineData("/a/%2e%2E/b", "/b")]
    [InlineData("/a/%2E./b", "/b")]
    [InlineData("/a/.%2e", "/")]
    [InlineData("/a/%2E/b", "/a/b")]
    [InlineData("/a/%2E%2E%2E", "/a/...")]
    public void Encoded_dots_are_dots(string path, string expected) => AssertNormalized(path, expected);

    [Theory]
    [InlineData("/..")]
    [InlineData("/../..")]
    [InlineData("/../../../../../../")]
    [InlineData("/%2E%2E/../%2e%2e")]
    public void A_path_of_only_dot_dot_segments_is_root(string path) => AssertNormalized(path, "/");

    // --- rule 4: empty segments --------------------------------------------------------------------

    [Theory]
    [InlineData("//", "/")]
    [InlineData("///", "/")]
    [InlineData("//a///b", "/a/b")]
    [InlineData("//a", "/a")]
    [InlineData("/a//", "/a/")]
    [InlineData("/a///", "/a/")]
    [InlineData("/a//./b", "/a/b")]
    public void Empty_segments_are_merged_and_a_trailing_slash_stays(string path, string expected) =>
        AssertNormalized(path, expected);

    // --- rule 5: dot segments with parameters ------------------------------------------------------

    [Theory]
    [InlineData("/public/..;/secret")]
    [InlineData("/a/.;x/b")]
    [InlineData("/a/..;")]
    [InlineData("/a/.;")]
    [InlineData("/a/..;x=1")]
    [InlineData("/a/%2E%2E;/b")]
    [InlineData("/a/%2e;x")]
    public void Dot_segments_with_parameters_are_rejected_by_default(string path) =>
        AssertRejected(path, PathNormalizer.DotSegmentWithParameters);

    [Theory]
    [InlineData("/public/..;/secret")]
    [InlineData("/a/.;x/b")]
    [InlineData("/a/..;")]
    public void Kept_dot_segments_with_parameters_are_ordinary_segments(string path) =>
        AssertUnchanged(path, keep: true);

    [Fact]
    public void Kept_encoded_dot_segment_with_parameters_is_decoded_but_not_resolved() =>
        AssertNormalized("/a/%2E%2E;x/b", "/a/..;x/b", keep: true);

    [Theory]
    [InlineData("/a;b/c")]
    [InlineData("/x/..y;z")]
    [InlineData("/x/;/y")]
    [InlineData("/x/...;y")]
    [InlineData("/x/..%3B/y")]
    public void Other_semicolons_are_ordinary(string path)
    {
        var (verdict, _, _) = Run(path);
        Assert.Equal(PathVerdict.Unchanged, verdict);
    }

    // --- rule 6: bytes the parser should never pass ------------------------------------------------

    [Theory]
    [InlineData("/a b")]
    [InlineData("/a\tb")]
    [InlineData("/a\u007Fb")]
    [InlineData("/a\0b")]
    [InlineData("/a/..\u0001")]
    public void Unexpected_bytes_are_rejected(string path) => AssertRejected(path, PathNormalizer.InvalidByte);

    [Fact]
    public void Non_ascii_bytes_are_rejected()
    {
        byte[] input = [(byte)'/', 0xC3, 0xA9];
        Assert.Equal(PathVerdict.Rejected, PathNormalizer.Normalize(input, true, new byte[3], out _, out var reason));
        Assert.Equal(PathNormalizer.InvalidByte, reason);
    }

    // --- rule 7 and the contract -------------------------------------------------------------------

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("%2Fa")]
    public void A_path_not_starting_with_slash_is_rejected(string path) =>
        AssertRejected(path, PathNormalizer.NotAbsolute);

    [Fact]
    public void An_output_shorter_than_the_path_is_a_caller_bug() =>
        Assert.Throws<ArgumentException>(() => PathNormalizer.Normalize("/abc"u8, false, new byte[3], out _, out _));

    [Fact]
    public void Every_result_fits_in_path_length_bytes()
    {
        // Every normalization fits in path.Length bytes, the tightest cases included.
        foreach (var path in new[] { "/.", "/..", "//", "/a/.", "/%41", "/a/%2E%2E", "/./", "/../" })
        {
            var input = Encoding.ASCII.GetBytes(path);
            var verdict = PathNormalizer.Normalize(input, false, new byte[input.Length], out var written, out _);
            Assert.NotEqual(PathVerdict.Rejected, verdict);
            Assert.InRange(written, 1, input.Length);
        }
    }

    // --- long paths --------------------------------------------------------------------------------

    [Fact]
    public void An_8_KB_plain_path_is_unchanged()
    {
        var path = "/" + string.Join('/', Enumerable.Repeat("segment", 8192 / 8));
        Assert.InRange(path.Length, 8190, 8200);
        AssertUnchanged(path);
    }

    [Fact]
    public void An_8_KB_path_of_dot_segments_and_encodings_normalizes()
    {
        var builder = new StringBuilder();
        while (builder.Length < 8192)
            builder.Append("/a%41//./b/../%2e%2E/%3a");
        var (verdict, result, _) = Run(builder.ToString());
        Assert.Equal(PathVerdict.Normalized, verdict);
        // Each repeat leaves one "aA", then pops it; what stays is the last "%3A" chain.
        var expected = new StringBuilder();
        var repeats = builder.Length / "/a%41//./b/../%2e%2E/%3a".Length;
        for (var i = 0; i < repeats; i++)
            expected.Append("/%3A");
        Assert.Equal(expected.ToString(), result);
    }

    [Fact]
    public void An_8_KB_run_of_dot_dot_segments_is_root()
    {
        var path = string.Concat(Enumerable.Repeat("/..", 8192 / 3));
        AssertNormalized(path, "/");
    }

    [Fact]
    public void An_8_KB_path_with_an_encoded_slash_at_the_end_is_rejected()
    {
        var path = "/" + new string('a', 8192) + "%2F";
        AssertRejected(path, PathNormalizer.EncodedSlash);
    }

    // --- allocation-free ---------------------------------------------------------------------------

    [Fact]
    public void Normalizing_allocates_nothing()
    {
        var paths = new[] { "/api/v1/items", "/a/./b/../%2e%2E/%41//c/", "/public/..;/secret", "/a%2Fb" }
            .Select(Encoding.ASCII.GetBytes).ToArray();
        var output = new byte[64];
        foreach (var p in paths)                                         // warm up: JIT, static init
            PathNormalizer.Normalize(p, false, output, out _, out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            foreach (var p in paths)
            {
                PathNormalizer.Normalize(p, false, output, out _, out _);
                PathNormalizer.Normalize(p, true, output, out _, out _);
            }
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // --- properties over many paths ----------------------------------------------------------------

    private static readonly string[] Segments =
        ["a", "b", ".", "..", "%2E", "%2e%2E", "%41", "", "%2F", "%5c", "\\", "..;", ".;x", "a;b", "%3a", "..."];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Normalizing_is_idempotent_and_leaves_no_dot_or_empty_segments(bool keep)
    {
        var random = new Random(20240613);
        var output = new byte[256];
        var again = new byte[256];
        var accepted = 0;
        for (var n = 0; n < 5000; n++)
        {
            var builder = new StringBuilder();
            var count = random.Next(0, 9);
            for (var s = 0; s < count; s++)
                builder.Append('/').Append(Segments[random.Next(Segments.Length)]);
            if (count == 0 || random.Next(4) == 0)
                builder.Append('/');
            var input = Encoding.ASCII.GetBytes(builder.ToString());

            var verdict = PathNormalizer.Normalize(input, keep, output, out var written, out _);
            if (verdict == PathVerdict.Rejected)
                continue;
            accepted++;
            var result = verdict == PathVerdict.Unchanged ? input : output[..written];
            var text = Encoding.ASCII.GetString(result);

            Assert.True(PathVerdict.Unchanged == PathNormalizer.Normalize(result, keep, again, out var w2, out _),
                $"{builder} -> {text} is not a fixed point");
            Assert.Equal(result.Length, w2);
            Assert.StartsWith("/", text);
            Assert.DoesNotContain("//", text);
            Assert.DoesNotContain("/./", text);
            Assert.DoesNotContain("/../", text);
            Assert.False(text.EndsWith("/.", StringComparison.Ordinal) || text.EndsWith("/..", StringComparison.Ordinal), $"{builder} -> {text}");
            Assert.DoesNotContain("%2E", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("%41", text);
        }
        Assert.True(accepted > 1000, $"only {accepted} paths accepted");
    }

    [Fact]
    public void Dot_segment_removal_matches_the_rfc_3986_algorithm()
    {
        // Plain segments only (no encodings or parameters), against a literal transcription of RFC 3986
        // 5.2.4 followed by merging empty segments.
        string[] parts = ["a", "b", ".", "..", ""];
        var random = new Random(7);
        var output = new byte[64];
        for (var n = 0; n < 3000; n++)
        {
            var builder = new StringBuilder();
            var count = random.Next(1, 8);
            for (var s = 0; s < count; s++)
                builder.Append('/').Append(parts[random.Next(parts.Length)]);
            var path = builder.ToString();
            var input = Encoding.ASCII.GetBytes(path);
            var verdict = PathNormalizer.Normalize(input, false, output, out var written, out _);
            var actual = verdict == PathVerdict.Unchanged ? path : Encoding.ASCII.GetString(output, 0, written);
            Assert.Equal(Reference(path), actual);
        }
    }

    private static string Reference(string input)
    {
        // Empty segments first: "//" is not a dot segment, and merging them never creates one.
        while (input.Contains("//", StringComparison.Ordinal))
            input = input.Replace("//", "/", StringComparison.Ordinal);
        var output = new StringBuilder();
        while (input.Length > 0)
        {
            if (input.StartsWith("/./", StringComparison.Ordinal))
                input = input[2..];
            else if (input == "/.")
                input = "/";
            else if (input.StartsWith("/../", StringComparison.Ordinal) || input == "/..")
            {
                input = input.StartsWith("/../", StringComparison.Ordinal) ? input[3..] : "/";
                var last = output.ToString().LastIndexOf('/');
                output.Length = last < 0 ? 0 : last;
            }
            else
            {
                var next = input.IndexOf('/', 1);
                var segment = next < 0 ? input : input[..next];
                output.Append(segment);
                input = input[segment.Length..];
            }
        }
        return output.Length == 0 ? "/" : output.ToString();
    }
}
