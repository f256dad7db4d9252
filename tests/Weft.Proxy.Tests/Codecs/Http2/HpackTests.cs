using System.Text;
using Weft.Proxy.Codecs.Http2.Hpack;

namespace Weft.Proxy.Tests.Codecs.Http2;

/// <summary>
/// HPACK (RFC 7541): every example of Appendix C with the dynamic table checked after each block, every
/// error a peer can provoke, the Huffman code over all 256 octets, the hard limit against a bomb, a
/// randomized run against a plain list model of the dynamic table, and the encoder read back by the decoder.
/// </summary>
public sealed class HpackTests
{
    // --- helpers -----------------------------------------------------------------------------------

    private static byte[] Hex(string hex)
    {
        var digits = new StringBuilder();
        foreach (var c in hex)
            if (Uri.IsHexDigit(c))
                digits.Append(c);
        return Convert.FromHexString(digits.ToString());
    }

    private static string Text(ReadOnlySpan<byte> octets) => Encoding.Latin1.GetString(octets);

    private static byte[] Octets(string text) => Encoding.Latin1.GetBytes(text);

    private sealed class RecordingSink : IHeaderFieldSink
    {
        public List<(byte[] Name, byte[] Value)> Fields { get; } = [];

        public List<(string, string)> Text => Fields.Select(f => (HpackTests.Text(f.Name), HpackTests.Text(f.Value))).ToList();

        public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Fields.Add((name.ToArray(), value.ToArray()));
    }

    private sealed class CountingSink : IHeaderFieldSink
    {
        public int Count;
        public long Octets;

        public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            Count++;
            Octets += name.Length + value.Length;
        }
    }

    private static (HpackError Error, List<(string, string)> Fields) Decode(HpackDecoder decoder, byte[] block, int hardLimit = int.MaxValue)
    {
        var sink = new RecordingSink();
        var error = decoder.Decode(block, sink, hardLimit);
        return (error, sink.Text);
    }

    private static void AssertFields(HpackDecoder decoder, string hex, params (string, string)[] expected)
    {
        var (error, fields) = Decode(decoder, Hex(hex));
        Assert.Equal(HpackError.None, error);
        Assert.Equal(expected, fields);
    }

    private static void AssertCompression(HpackDecoder decoder, byte[] block) =>
        Assert.Equal(HpackError.Compression, decoder.Decode(block, new CountingSink(), int.MaxValue));

    /// <summary>The dynamic table, newest first, read back through indexed references (62, 63...), and its size.</summary>
    private static void AssertTable(HpackDecoder decoder, int size, params (string, string)[] newestFirst)
    {
        Assert.Equal(newestFirst.Length, decoder.DynamicTableCount);
        Assert.Equal(size, decoder.DynamicTableSize);
        for (var i = 0; i < newestFirst.Length; i++)
        {
            var (error, fields) = Decode(decoder, new Block().Indexed(HpackStaticTable.Count + 1 + i).ToArray());
            Assert.Equal(HpackError.None, error);
            Assert.Equal([newestFirst[i]], fields);
        }

        // One past the table's last entry is no entry.
        AssertCompression(decoder, new Block().Indexed(HpackStaticTable.Count + 1 + newestFirst.Length).ToArray());
    }

    /// <summary>The encoder side of Appendix B, to make inputs: codes back to back, padded with ones.</summary>
    private static byte[] HuffmanEncode(ReadOnlySpan<byte> input)
    {
        var output = new List<byte>();
        ulong pending = 0;
        var count = 0;
        foreach (var octet in input)
        {
            int length = HpackHuffman.Lengths[octet];
            pending = pending << length | HpackHuffman.Codes[octet];
            count += length;
            while (count >= 8)
            {
                count -= 8;
                output.Add((byte)(pending >> count));
            }
        }

        if (count > 0)
            output.Add((byte)((pending << (8 - count)) | (0xFFu >> count)));
        return output.ToArray();
    }

    private enum Kind
    {
        Incremental,
        WithoutIndexing,
        NeverIndexed,
    }

    /// <summary>Writes representations by hand, including ones our encoder never makes.</summary>
    private sealed class Block
    {
        private readonly List<byte> _octets = [];

        public Block Raw(params byte[] octets)
        {
            _octets.AddRange(octets);
            return this;
        }

        public Block Indexed(int index) => Integer(index, 7, 0x80);

        public Block SizeUpdate(int size) => Integer(size, 5, 0x20);

        public Block Literal(Kind kind, int nameIndex, byte[] value, bool huffman = false)
        {
            var (prefix, flags) = Prefix(kind);
            Integer(nameIndex, prefix, flags);
            return String(value, huffman);
        }

        public Block Literal(Kind kind, byte[] name, byte[] value, bool huffmanName = false, bool huffmanValue = false)
        {
            var (prefix, flags) = Prefix(kind);
            Integer(0, prefix, flags);
            String(name, huffmanName);
            return String(value, huffmanValue);
        }

        public Block Literal(Kind kind, string name, string value, bool huffman = false) =>
            Literal(kind, Octets(name), Octets(value), huffman, huffman);

        public Block String(byte[] value, bool huffman)
        {
            var octets = huffman ? HuffmanEncode(value) : value;
            Integer(octets.Length, 7, huffman ? (byte)0x80 : (byte)0);
            _octets.AddRange(octets);
            return this;
        }

        public Block Integer(int value, int prefix, byte flags)
        {
            var buffer = new byte[8];
            var written = HpackInteger.Write(buffer, value, prefix, flags);
            _octets.AddRange(buffer.AsSpan(0, written).ToArray());
            return this;
        }

        public byte[] ToArray() => _octets.ToArray();

        private static (int Prefix, byte Flags) Prefix(Kind kind) => kind switch
        {
            Kind.Incremental => (6, 0x40),
            Kind.WithoutIndexing => (4, 0x00),
            _ => (4, 0x10),
        };
    }

    // --- RFC 7541 Appendix C ---------------------------------------------------------------------------

    [Fact]
    public void C1_integers()
    {
        var buffer = new byte[8];
        Assert.Equal([0x0A], buffer.AsSpan(0, HpackInteger.Write(buffer, 10, 5, 0)).ToArray());
        Assert.Equal([0x1F, 0x9A, 0x0A], buffer.AsSpan(0, HpackInteger.Write(buffer, 1337, 5, 0)).ToArray());
        Assert.Equal([0x2A], buffer.AsSpan(0, HpackInteger.Write(buffer, 42, 8, 0)).ToArray());

        var position = 0;
        Assert.True(HpackInteger.TryRead([0xFF, 0x9A, 0x0A], ref position, 5, out var value));
        Assert.Equal((1337, 3), (value, position));
    }

    [Fact]
    public void C2_1_literal_with_indexing()
    {
        var decoder = new HpackDecoder();
        AssertFields(decoder, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572", ("custom-key", "custom-header"));
        AssertTable(decoder, 55, ("custom-key", "custom-header"));
    }

    [Fact]
    public void C2_2_literal_without_indexing()
    {
        var decoder = new HpackDecoder();
        AssertFields(decoder, "040c 2f73 616d 706c 652f 7061 7468", (":path", "/sample/path"));
        AssertTable(decoder, 0);
    }

    [Fact]
    public void C2_3_literal_never_indexed()
    {
        var decoder = new HpackDecoder();
        AssertFields(decoder, "1008 7061 7373 776f 7264 0673 6563 7265 74", ("password", "secret"));
        AssertTable(decoder, 0);
    }

    [Fact]
    public void C2_4_indexed()
    {
        var decoder = new HpackDecoder();
        AssertFields(decoder, "82", (":method", "GET"));
        AssertTable(decoder, 0);
    }

    [Fact]
    public void C3_requests_without_huffman()
    {
        var decoder = new HpackDecoder();
        AssertFields(decoder, "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            (":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"));
        AssertTable(decoder, 57, (":authority", "www.example.com"));

        AssertFields(decoder, "8286 84be 5808 6e6f 2d63 6163 6865",
            (":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache"));
        AssertTable(decoder, 110, ("cache-control", "no-cache"), (":authority", "www.example.com"));

        AssertFields(decoder, "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            (":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value"));
        AssertTable(decoder, 164, ("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com"));
    }

    [Fact]
    public void C4_requests_with_huffman()
    {
        var decoder = new HpackDecoder();
        AssertFields(decoder, "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            (":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"));
        AssertTable(decoder, 57, (":authority", "www.example.com"));

        AssertFields(decoder, "8286 84be 5886 a8eb 1064 9cbf",
            (":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache"));
        AssertTable(decoder, 110, ("cache-control", "no-cache"), (":authority", "www.example.com"));

        AssertFields(decoder, "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            (":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value"));
        AssertTable(decoder, 164, ("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com"));
    }

    private const string Date21 = "Mon, 21 Oct 2013 20:13:21 GMT";
    private const string Date22 = "Mon, 21 Oct 2013 20:13:22 GMT";
    private const string Location = "https://www.example.com";
    private const string Cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

    // C.5 and C.6 share their fields and, since eviction counts decoded lengths, their tables.
    private static void AssertResponses(string first, string second, string third)
    {
        var decoder = new HpackDecoder(256);
        AssertFields(decoder, first, (":status", "302"), ("cache-control", "private"), ("date", Date21), ("location", Location));
        AssertTable(decoder, 222, ("location", Location), ("date", Date21), ("cache-control", "private"), (":status", "302"));

        AssertFields(decoder, second, (":status", "307"), ("cache-control", "private"), ("date", Date21), ("location", Location));
        AssertTable(decoder, 222, (":status", "307"), ("location", Location), ("date", Date21), ("cache-control", "private"));

        AssertFields(decoder, third, (":status", "200"), ("cache-control", "private"), ("date", Date22), ("location", Location),
            ("content-encoding", "gzip"), ("set-cookie", Cookie));
        AssertTable(decoder, 215, ("set-cookie", Cookie), ("content-encoding", "gzip"), ("date", Date22));
    }

    [Fact]
    public void C5_responses_without_huffman_evicting() => AssertResponses(
        """
        4803 3330 3258 0770 7269 7661 7465 611d
        4d6f 6e2c 2032 3120 4f63 7420 3230 3133
        2032 303a 3133 3a32 3120 474d 546e 1768
        7474 7073 3a2f 2f77 7777 2e65 7861 6d70
        6c65 2e63 6f6d
        """,
        "4803 3330 37c1 c0bf",
        """
        88c1 611d 4d6f 6e2c 2032 3120 4f63 7420
        3230 3133 2032 303a 3133 3a32 3220 474d
        54c0 5a04 677a 6970 7738 666f 6f3d 4153
        444a 4b48 514b 425a 584f 5157 454f 5049
        5541 5851 5745 4f49 553b 206d 6178 2d61
        6765 3d33 3630 303b 2076 6572 7369 6f6e
        3d31
        """);

    [Fact]
    public void C6_responses_with_huffman_evicting() => AssertResponses(
        """
        4882 6402 5885 aec3 771a 4b61 96d0 7abe
        9410 54d4 44a8 2005 9504 0b81 66e0 82a6
        2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8
        e9ae 82ae 43d3
        """,
        "4883 640e ffc1 c0bf",
        """
        88c1 6196 d07a be94 1054 d444 a820 0595
        040b 8166 e084 a62d 1bff c05a 839b d9ab
        77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
        3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
        9587 3160 65c0 03ed 4ee5 b106 3d50 07
        """);

    // --- errors --------------------------------------------------------------------------------------

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "index 0", [0x80] },
        { "index past the static table, dynamic table empty", [0xBE] },
        { "index far past both tables", new Block().Indexed(100_000).ToArray() },
        { "without-indexing literal naming an index past both tables", new Block().Literal(Kind.WithoutIndexing, 62, Octets("v")).ToArray() },
        { "incremental literal naming an index past both tables", new Block().Literal(Kind.Incremental, 70, Octets("v")).ToArray() },
        { "never-indexed literal naming an index past both tables", new Block().Literal(Kind.NeverIndexed, 62, Octets("v")).ToArray() },
        { "integer truncated after its prefix", [0xFF] },
        { "integer truncated inside continuation", [0xFF, 0x80] },
        { "integer past int", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F] },
        { "integer with six continuation octets (zero padding)", [0xFF, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00] },
        { "string length past int", [0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F] },
        { "literal without its name", [0x40] },
        { "literal name truncated", [0x40, 0x0A, 0x63, 0x75] },
        { "literal without its value", [0x40, 0x01, 0x61] },
        { "literal value truncated", [0x04, 0x05, 0x2F] },
        { "indexed-name literal without its value", [0x04] },
        { "Huffman: EOS inside the string", new Block().Raw(0x00, 0x01, 0x61).Raw(0x84, 0xFF, 0xFF, 0xFF, 0xFF).ToArray() },
        { "Huffman: EOS in the middle of a long string", new Block().Raw(0x00, 0x01, 0x61).Raw(0x93).Raw(HuffmanEncode("aaaaaaaaaaaaaaaa"u8)).Raw(0xFF, 0xFF, 0xFF, 0xFF).Raw(HuffmanEncode("aaaaaaaa"u8)).ToArray() },
        { "Huffman: EOS then a symbol", new Block().Raw(0x00, 0x01, 0x61).Raw(0x85, 0xFF, 0xFF, 0xFF, 0xFC, 0x7F).ToArray() },
        { "Huffman: a whole octet of padding", new Block().Raw(0x00, 0x01, 0x61).Raw(0x86).Raw(HuffmanEncode("aaaaaaaa"u8)).Raw(0xFF).ToArray() },
        { "Huffman: 11 bits of padding", new Block().Raw(0x00, 0x01, 0x61).Raw(0x82, 0x1F, 0xFF).ToArray() },
        { "Huffman: padding of zeros", new Block().Raw(0x00, 0x01, 0x61).Raw(0x81, 0x18).ToArray() },
        { "Huffman: padding of ones then a zero", new Block().Raw(0x00, 0x01, 0x61).Raw(0x81, 0x1E).ToArray() },
        { "Huffman: a lone all-ones octet is padding longer than 7 bits", new Block().Raw(0x00, 0x01, 0x61).Raw(0x81, 0xFF).ToArray() },
        { "Huffman in a name", new Block().Raw(0x00, 0x81, 0x18, 0x01, 0x61).ToArray() },
        { "size update above our setting", new Block().SizeUpdate(4097).ToArray() },
        { "size update after a field", new Block().Indexed(2).SizeUpdate(0).ToArray() },
        { "size update after a literal", new Block().Literal(Kind.WithoutIndexing, 4, Octets("/")).SizeUpdate(100).ToArray() },
        { "size update integer past int", [0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_blocks_are_compression_errors(string because, byte[] block)
    {
        Assert.NotNull(because);
        AssertCompression(new HpackDecoder(), block);
    }

    [Fact]
    public void An_index_one_past_the_dynamic_table_is_an_error_and_the_last_entry_is_not()
    {
        var decoder = new HpackDecoder();
        Assert.Equal(HpackError.None, Decode(decoder, new Block().Literal(Kind.Incremental, "a", "1").Literal(Kind.Incremental, "b", "2").ToArray()).Error);
        AssertFields(decoder, "bf", ("a", "1"));
        AssertCompression(decoder, [0xC0]);
    }

    [Fact]
    public void Size_updates_only_at_the_start_and_several_in_a_row()
    {
        var decoder = new HpackDecoder();
        var block = new Block().SizeUpdate(0).SizeUpdate(4096).SizeUpdate(100).Literal(Kind.Incremental, "k", "v").Indexed(62).ToArray();
        var (error, fields) = Decode(decoder, block);
        Assert.Equal(HpackError.None, error);
        Assert.Equal([("k", "v"), ("k", "v")], fields);
        Assert.Equal(100, decoder.DynamicTableMaxSize);

        // A block of only updates is a block.
        Assert.Equal(HpackError.None, Decode(decoder, new Block().SizeUpdate(4096).ToArray()).Error);
        Assert.Equal(4096, decoder.DynamicTableMaxSize);
        AssertTable(decoder, 34, ("k", "v"));
    }

    [Fact]
    public void A_size_update_evicts_oldest_first_and_zero_empties()
    {
        var decoder = new HpackDecoder();
        Assert.Equal(HpackError.None, Decode(decoder, new Block()
            .Literal(Kind.Incremental, "a", "1").Literal(Kind.Incremental, "b", "2").Literal(Kind.Incremental, "c", "3").ToArray()).Error);
        AssertTable(decoder, 102, ("c", "3"), ("b", "2"), ("a", "1"));

        Assert.Equal(HpackError.None, Decode(decoder, new Block().SizeUpdate(68).ToArray()).Error);
        AssertTable(decoder, 68, ("c", "3"), ("b", "2"));

        Assert.Equal(HpackError.None, Decode(decoder, new Block().SizeUpdate(0).ToArray()).Error);
        AssertTable(decoder, 0);

        // With the maximum at 0 nothing is kept, without error.
        AssertFields(decoder, "4001 6101 31", ("a", "1"));
        AssertTable(decoder, 0);
    }

    [Fact]
    public void A_table_of_zero_bytes_refuses_any_other_size_and_keeps_nothing()
    {
        var decoder = new HpackDecoder(0);
        AssertCompression(decoder, new Block().SizeUpdate(1).ToArray());
        AssertFields(decoder, "20 4001 6101 31", ("a", "1"));
        AssertTable(decoder, 0);
    }

    [Fact]
    public void An_entry_larger_than_the_table_empties_it_without_error()
    {
        var decoder = new HpackDecoder(256);
        Assert.Equal(HpackError.None, Decode(decoder, new Block().Literal(Kind.Incremental, "a", "1").Literal(Kind.Incremental, "b", "2").ToArray()).Error);
        AssertTable(decoder, 68, ("b", "2"), ("a", "1"));

        var big = new string('x', 256 - 32);     // name 1 + value 224 + 32 = 257
        var (error, fields) = Decode(decoder, new Block().Literal(Kind.Incremental, "y", big).ToArray());
        Assert.Equal(HpackError.None, error);
        Assert.Equal([("y", big)], fields);
        AssertTable(decoder, 0);

        // Exactly the table's size fits, alone.
        var fits = new string('x', 256 - 33);
        Assert.Equal(HpackError.None, Decode(decoder, new Block().Literal(Kind.Incremental, "a", "1").Literal(Kind.Incremental, "y", fits).ToArray()).Error);
        AssertTable(decoder, 256, ("y", fits));
    }

    [Fact]
    public void A_new_entry_may_take_its_name_from_the_entry_it_evicts()
    {
        // RFC 7541 4.4: the referenced name must outlive the eviction it causes.
        var decoder = new HpackDecoder(64);
        AssertFields(decoder, "400461616161 0462626262", ("aaaa", "bbbb"));
        AssertFields(decoder, "7e 0463636363", ("aaaa", "cccc"));
        AssertTable(decoder, 40, ("aaaa", "cccc"));

        // The same with a Huffman value, so the copied name and the decoded value share the scratch buffer.
        var block = new Block().Literal(Kind.Incremental, 62, Octets("dddd"), huffman: true).ToArray();
        Assert.Equal([("aaaa", "dddd")], Decode(decoder, block).Fields);
        AssertTable(decoder, 40, ("aaaa", "dddd"));
    }

    [Fact]
    public void A_new_entry_keeps_its_name_when_making_room_moves_other_entries_over_the_one_it_named()
    {
        // The octets of E (oldest), F and L lie at 0, 10 and 210 of the table's first 256-octet buffer. The
        // new entry, named by E, evicts E and F (350 - 92 < 284), and to fit its 60 octets past 230 the live
        // L moves to the front, over E's name.
        var decoder = new HpackDecoder(350);
        var e = new string('e', 10);
        var f = new string('f', 199);
        var l = new string('l', 19);
        var v = new string('v', 50);
        Assert.Equal(HpackError.None, Decode(decoder, new Block()
            .Literal(Kind.Incremental, e, "").Literal(Kind.Incremental, "f", f).Literal(Kind.Incremental, "l", l).ToArray()).Error);
        AssertTable(decoder, 326, ("l", l), ("f", f), (e, ""));

        var (error, fields) = Decode(decoder, new Block().Literal(Kind.Incremental, 64, Octets(v)).ToArray());
        Assert.Equal(HpackError.None, error);
        Assert.Equal([(e, v)], fields);
        AssertTable(decoder, 144, (e, v), ("l", l));
    }

    [Fact]
    public void Literals_named_from_the_dynamic_table_without_indexing_leave_it_alone()
    {
        var decoder = new HpackDecoder();
        AssertFields(decoder, "400461616161 0462626262", ("aaaa", "bbbb"));
        var (error, fields) = Decode(decoder, new Block()
            .Literal(Kind.WithoutIndexing, 62, Octets("x")).Literal(Kind.NeverIndexed, 62, Octets("y"), huffman: true).ToArray());
        Assert.Equal(HpackError.None, error);
        Assert.Equal([("aaaa", "x"), ("aaaa", "y")], fields);
        AssertTable(decoder, 40, ("aaaa", "bbbb"));
    }

    [Fact]
    public void Empty_names_values_and_blocks_decode()
    {
        var decoder = new HpackDecoder();
        Assert.Equal(HpackError.None, decoder.Decode([], new CountingSink(), 0));
        var (error, fields) = Decode(decoder, new Block()
            .Literal(Kind.WithoutIndexing, "", "")
            .Literal(Kind.Incremental, "", "", huffman: true)
            .Literal(Kind.WithoutIndexing, 1, [], huffman: true).ToArray());
        Assert.Equal(HpackError.None, error);
        Assert.Equal([("", ""), ("", ""), (":authority", "")], fields);
        AssertTable(decoder, 32, ("", ""));
    }

    // --- the hard limit ------------------------------------------------------------------------------

    [Fact]
    public void A_4KB_entry_referenced_100_times_stops_at_the_hard_limit()
    {
        var decoder = new HpackDecoder();
        var value = new string('v', 4000);
        var sink = new CountingSink();
        Assert.Equal(HpackError.None, decoder.Decode(new Block().Literal(Kind.Incremental, "x", value).ToArray(), sink, 16 * 1024));
        Assert.Equal(4033, decoder.DynamicTableSize);

        var bomb = new Block();
        for (var i = 0; i < 100; i++)
            bomb.Indexed(62);
        sink = new CountingSink();
        Assert.Equal(HpackError.ListTooLarge, decoder.Decode(bomb.ToArray(), sink, 16 * 1024));
        Assert.Equal(4, sink.Count);                  // 4 x 4033 = 16132 fits in 16384; the fifth passes it
        Assert.Equal(4 * 4001, sink.Octets);
    }

    [Fact]
    public void The_hard_limit_counts_name_value_and_32_and_stops_only_past_it()
    {
        var block = new Block().Indexed(2).Literal(Kind.WithoutIndexing, "ab", "cde").ToArray();   // 7+3+32, 2+3+32
        Assert.Equal(HpackError.None, new HpackDecoder().Decode(block, new CountingSink(), 79));
        var sink = new CountingSink();
        Assert.Equal(HpackError.ListTooLarge, new HpackDecoder().Decode(block, sink, 78));
        Assert.Equal(1, sink.Count);
        Assert.Equal(HpackError.ListTooLarge, new HpackDecoder().Decode(block, new CountingSink(), 41));
    }

    [Fact]
    public void The_hard_limit_applies_when_the_sink_ignores_every_field()
    {
        var decoder = new HpackDecoder();
        var block = new Block();
        for (var i = 0; i < 1000; i++)
            block.Literal(Kind.WithoutIndexing, 31, Octets("text/plain"));
        Assert.Equal(HpackError.ListTooLarge, decoder.Decode(block.ToArray(), new IgnoringSink(), 8192));
    }

    private sealed class IgnoringSink : IHeaderFieldSink
    {
        public void OnField(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
        }
    }

    // --- Huffman -------------------------------------------------------------------------------------

    [Fact]
    public void The_code_table_is_the_canonical_complete_code_of_the_RFC()
    {
        // The decoder relies on it: the codes are what canonical assignment by (length, symbol) gives, and
        // they fill the code space exactly (Kraft sum 1).
        var symbols = Enumerable.Range(0, 257).OrderBy(s => HpackHuffman.Lengths[s]).ThenBy(s => s).ToArray();
        ulong code = 0;
        int previous = HpackHuffman.Lengths[symbols[0]];
        double kraft = 0;
        foreach (var symbol in symbols)
        {
            int length = HpackHuffman.Lengths[symbol];
            code <<= length - previous;
            previous = length;
            Assert.Equal(code, HpackHuffman.Codes[symbol]);
            code++;
            kraft += Math.Pow(2, -length);
        }

        Assert.Equal(1.0, kraft);
        Assert.Equal((0x18u, (byte)6), (HpackHuffman.Codes['/'], HpackHuffman.Lengths['/']));
        Assert.Equal((0x7fff0u, (byte)19), (HpackHuffman.Codes['\\'], HpackHuffman.Lengths['\\']));
        Assert.Equal((0x3fffffffu, (byte)30), (HpackHuffman.Codes[256], HpackHuffman.Lengths[256]));
    }

    private static byte[] HuffmanRoundTrip(byte[] input)
    {
        var encoded = HuffmanEncode(input);
        var output = new byte[HpackHuffman.MaxDecodedLength(encoded.Length)];
        var written = HpackHuffman.Decode(encoded, output);
        Assert.True(written >= 0, $"decoding {Convert.ToHexString(input)} failed");
        return output.AsSpan(0, written).ToArray();
    }

    [Fact]
    public void Huffman_round_trips_every_octet_alone_together_and_at_random()
    {
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        Assert.Equal(all, HuffmanRoundTrip(all));
        Assert.Equal(all.Reverse().ToArray(), HuffmanRoundTrip(all.Reverse().ToArray()));
        for (var i = 0; i < 256; i++)
        {
            Assert.Equal([(byte)i], HuffmanRoundTrip([(byte)i]));
            Assert.Equal([(byte)i, (byte)i, (byte)i], HuffmanRoundTrip([(byte)i, (byte)i, (byte)i]));
        }

        var random = new Random(7541);
        for (var i = 0; i < 2000; i++)
        {
            var input = new byte[random.Next(0, 64)];
            random.NextBytes(input);
            Assert.Equal(input, HuffmanRoundTrip(input));
        }

        // Through the decoder too, as a name and a value.
        var (error, fields) = Decode(new HpackDecoder(), new Block().Literal(Kind.WithoutIndexing, all, all, true, true).ToArray());
        Assert.Equal(HpackError.None, error);
        Assert.Equal([(Text(all), Text(all))], fields);
    }

    [Fact]
    public void Huffman_accepts_padding_of_up_to_seven_ones()
    {
        // 'x' (7 bits) + 'a' + 'a' (5 each) = 17 bits: 7 bits of padding.
        Assert.Equal(3, HuffmanEncode("xaa"u8).Length);
        Assert.Equal("xaa"u8.ToArray(), HuffmanRoundTrip("xaa"u8.ToArray()));
        // No padding at all: 'a' x 8 = 40 bits.
        Assert.Equal(5, HuffmanEncode("aaaaaaaa"u8).Length);
        Assert.Equal("aaaaaaaa"u8.ToArray(), HuffmanRoundTrip("aaaaaaaa"u8.ToArray()));
    }

    [Fact]
    public void Huffman_output_of_long_strings_grows_the_scratch_buffer()
    {
        var random = new Random(1);
        var name = new byte[300];
        var value = new byte[20_000];
        random.NextBytes(name);
        for (var i = 0; i < value.Length; i++)
            value[i] = (byte)"0123456789abcdef"[random.Next(16)];    // 5- and 6-bit codes: the output is longer than the input
        var decoder = new HpackDecoder(64 * 1024);
        var sink = new RecordingSink();
        Assert.Equal(HpackError.None, decoder.Decode(new Block().Literal(Kind.Incremental, name, value, true, true).ToArray(), sink, int.MaxValue));
        Assert.Equal(name, sink.Fields[0].Name);
        Assert.Equal(value, sink.Fields[0].Value);
        Assert.Equal(1, decoder.DynamicTableCount);
    }

    // --- the dynamic table against a model ----------------------------------------------------------

    [Theory]
    [InlineData(0, 4096)]
    [InlineData(1, 256)]
    [InlineData(2, 64)]
    [InlineData(3, 1000)]
    [InlineData(4, 0)]
    public void The_dynamic_table_matches_a_plain_list_model(int seed, int maxTableBytes)
    {
        var random = new Random(seed);
        var decoder = new HpackDecoder(maxTableBytes);
        var model = new List<(byte[] Name, byte[] Value)>();      // newest first
        var maxSize = maxTableBytes;

        int ModelSize() => model.Sum(e => e.Name.Length + e.Value.Length + 32);

        void Evict(int size)
        {
            while (ModelSize() > size)
                model.RemoveAt(model.Count - 1);
        }

        byte[] RandomOctets(int maxLength)
        {
            var octets = new byte[random.Next(0, maxLength + 1)];
            random.NextBytes(octets);
            return octets;
        }

        for (var round = 0; round < 400; round++)
        {
            var block = new Block();
            var expected = new List<(byte[], byte[])>();
            for (var i = random.Next(0, 3); i > 0; i--)
            {
                maxSize = random.Next(0, maxTableBytes + 1);
                if (random.Next(4) == 0)
                    maxSize = maxTableBytes;
                block.SizeUpdate(maxSize);
                Evict(maxSize);
            }

            for (var i = random.Next(1, 9); i > 0; i--)
            {
                var choice = random.Next(10);
                if (choice == 0)
                {
                    var index = random.Next(1, HpackStaticTable.Count + 1);
                    block.Indexed(index);
                    expected.Add((HpackStaticTable.Name(index).ToArray(), HpackStaticTable.Value(index).ToArray()));
                    continue;
                }

                if (choice <= 2 && model.Count > 0)
                {
                    var index = random.Next(model.Count);
                    block.Indexed(HpackStaticTable.Count + 1 + index);
                    expected.Add(model[index]);
                    continue;
                }

                var kind = (Kind)random.Next(3);
                var value = RandomOctets(random.Next(8) == 0 ? 400 : 40);
                byte[] name;
                var nameChoice = random.Next(3);
                if (nameChoice == 0)
                {
                    var index = random.Next(1, HpackStaticTable.Count + 1);
                    name = HpackStaticTable.Name(index).ToArray();
                    block.Literal(kind, index, value, random.Next(2) == 0);
                }
                else if (nameChoice == 1 && model.Count > 0)
                {
                    var index = random.Next(model.Count);
                    name = model[index].Name;
                    block.Literal(kind, HpackStaticTable.Count + 1 + index, value, random.Next(2) == 0);
                }
                else
                {
                    name = RandomOctets(random.Next(8) == 0 ? 300 : 20);
                    block.Literal(kind, name, value, random.Next(2) == 0, random.Next(2) == 0);
                }

                expected.Add((name, value));
                if (kind == Kind.Incremental)
                {
                    var size = name.Length + value.Length + 32;
                    if (size > maxSize)
                    {
                        model.Clear();
                    }
                    else
                    {
                        Evict(maxSize - size);
                        model.Insert(0, (name, value));
                    }
                }
            }

            var sink = new RecordingSink();
            Assert.Equal(HpackError.None, decoder.Decode(block.ToArray(), sink, int.MaxValue));
            Assert.Equal(expected.Count, sink.Fields.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Item1, sink.Fields[i].Name);
                Assert.Equal(expected[i].Item2, sink.Fields[i].Value);
            }

            Assert.Equal(model.Count, decoder.DynamicTableCount);
            Assert.Equal(ModelSize(), decoder.DynamicTableSize);
            Assert.Equal(maxSize, decoder.DynamicTableMaxSize);
            for (var i = 0; i < model.Count; i++)
            {
                var check = new RecordingSink();
                Assert.Equal(HpackError.None, decoder.Decode(new Block().Indexed(HpackStaticTable.Count + 1 + i).ToArray(), check, int.MaxValue));
                Assert.Equal(model[i].Name, check.Fields[0].Name);
                Assert.Equal(model[i].Value, check.Fields[0].Value);
            }
        }
    }

    // --- allocation ----------------------------------------------------------------------------------

    [Fact]
    public void Decoding_allocates_nothing_per_block()
    {
        var decoder = new HpackDecoder();
        var sink = new CountingSink();
        Assert.Equal(HpackError.None, decoder.Decode(Hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), sink, int.MaxValue));
        Assert.Equal(HpackError.None, decoder.Decode(Hex("8286 84be 5886 a8eb 1064 9cbf"), sink, int.MaxValue));

        // Huffman literals, an insertion (with eviction and moves once the table is full) and indexed fields.
        var block = Hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
        for (var i = 0; i < 2000; i++)
            Assert.Equal(HpackError.None, decoder.Decode(block, sink, int.MaxValue));

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
            decoder.Decode(block, sink, int.MaxValue);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    // --- the encoder, read back by the decoder ------------------------------------------------------

    private static (string, string) RoundTrip(Func<byte[], int> write)
    {
        var buffer = new byte[200_000];
        var written = write(buffer);
        var (error, fields) = Decode(new HpackDecoder(), buffer.AsSpan(0, written).ToArray());
        Assert.Equal(HpackError.None, error);
        return Assert.Single(fields);
    }

    [Fact]
    public void Every_static_name_is_found_at_its_first_entry_and_written_by_index()
    {
        for (var index = 1; index <= HpackStaticTable.Count; index++)
        {
            var name = HpackStaticTable.Name(index).ToArray();
            var first = 1;
            while (!HpackStaticTable.Name(first).SequenceEqual(name))
                first++;
            Assert.Equal(first, HpackStaticTable.NameIndex(name));

            var nameText = Text(name);
            var buffer = new byte[64];
            var written = HpackEncoder.WriteField(name, "v"u8, buffer);
            Assert.Equal((nameText, "v"), RoundTrip(b => HpackEncoder.WriteField(name, "v"u8, b)));
            Assert.Equal((nameText, "v"), RoundTrip(b => HpackEncoder.WriteField(nameText.ToUpperInvariant(), "v", b)));

            // Literal without indexing, the name by index: 0000 and a 4-bit prefix.
            var prefix = new byte[2];
            var prefixLength = HpackInteger.Write(prefix, first, 4, 0x00);
            Assert.Equal(prefix.AsSpan(0, prefixLength).ToArray(), buffer.AsSpan(0, prefixLength).ToArray());
            Assert.Equal(prefixLength + 2, written);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("x-custom")]
    [InlineData(":Path")]
    [InlineData(":paths")]
    [InlineData("content-typo")]
    [InlineData("accept-encodinG")]
    [InlineData("www-authenticatf")]
    [InlineData("proxy-authorizatio")]
    public void Names_not_in_the_static_table_are_written_literally(string name)
    {
        Assert.Equal(0, HpackStaticTable.NameIndex(Octets(name)));
        var buffer = new byte[64];
        var written = HpackEncoder.WriteField(Octets(name), "value"u8, buffer);
        Assert.Equal(0x00, buffer[0]);
        Assert.Equal(1 + 1 + name.Length + 1 + 5, written);
        Assert.Equal((name, "value"), RoundTrip(b => HpackEncoder.WriteField(Octets(name), "value"u8, b)));
    }

    [Fact]
    public void String_fields_are_lowercased_and_written_as_latin1()
    {
        Assert.Equal(("content-type", "text/plain"), RoundTrip(b => HpackEncoder.WriteField("Content-Type", "text/plain", b)));
        Assert.Equal(("x-trace-id", "AbC"), RoundTrip(b => HpackEncoder.WriteField("X-Trace-ID", "AbC", b)));
        Assert.Equal(("x-É", "café ? ?? ÿ"), RoundTrip(b => HpackEncoder.WriteField("X-É", "café \u20AC \U0001F600 ÿ", b)));
        Assert.Equal((":authority", "h\u00e9"), RoundTrip(b => HpackEncoder.WriteLiteralWithNameIndex(1, "h\u00e9\u0100"[..2], b)));
        Assert.Equal((":path", "/a?"), RoundTrip(b => HpackEncoder.WriteLiteralWithNameIndex(4, "/a\u0100", b)));
    }

    [Theory]
    [InlineData(200, 8)]
    [InlineData(204, 9)]
    [InlineData(206, 10)]
    [InlineData(304, 11)]
    [InlineData(400, 12)]
    [InlineData(404, 13)]
    [InlineData(500, 14)]
    public void Common_statuses_are_one_indexed_octet(int status, int index)
    {
        var buffer = new byte[HpackEncoder.MaxStatusLength];
        Assert.Equal(1, HpackEncoder.WriteStatus(status, buffer));
        Assert.Equal(0x80 | index, buffer[0]);
        Assert.Equal((":status", status.ToString()), RoundTrip(b => HpackEncoder.WriteStatus(status, b)));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(101)]
    [InlineData(201)]
    [InlineData(302)]
    [InlineData(429)]
    [InlineData(503)]
    [InlineData(999)]
    public void Other_statuses_are_literals_named_by_index_8(int status)
    {
        var buffer = new byte[HpackEncoder.MaxStatusLength];
        Assert.Equal(5, HpackEncoder.WriteStatus(status, buffer));
        Assert.Equal(0x08, buffer[0]);
        Assert.Equal((":status", status.ToString()), RoundTrip(b => HpackEncoder.WriteStatus(status, b)));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(1, 126)]
    [InlineData(1, 127)]
    [InlineData(1, 128)]
    [InlineData(1, 255)]
    [InlineData(126, 16_383)]
    [InlineData(127, 16_384)]
    [InlineData(200, 16_511)]
    [InlineData(1000, 100_000)]
    public void Long_names_and_values_take_multi_octet_lengths(int nameLength, int valueLength)
    {
        var name = new string('n', nameLength);
        var value = string.Create(valueLength, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
                span[i] = (char)('a' + i % 26);
        });
        var bound = HpackEncoder.MaxFieldLength(nameLength, valueLength);
        var buffer = new byte[bound];
        var written = HpackEncoder.WriteField(Octets(name), Octets(value), buffer);
        Assert.Equal(1 + HpackEncoder.StringLength(nameLength) + HpackEncoder.StringLength(valueLength), written);
        Assert.Equal(written, HpackEncoder.WriteField(name, value, buffer));
        Assert.True(written <= bound);
        Assert.Equal((name, value), RoundTrip(b => HpackEncoder.WriteField(name, value, b)));
        Assert.Equal((":path", value), RoundTrip(b => HpackEncoder.WriteLiteralWithNameIndex(4, Octets(value), b)));
        Assert.Equal(("content-type", value), RoundTrip(b => HpackEncoder.WriteField("content-type", value, b)));
    }

    [Fact]
    public void Indexed_fields_and_literals_with_a_name_index()
    {
        var buffer = new byte[64];
        Assert.Equal(1, HpackEncoder.WriteIndexed(2, buffer));
        Assert.Equal(0x82, buffer[0]);
        Assert.Equal((":method", "GET"), RoundTrip(b => HpackEncoder.WriteIndexed(2, b)));
        Assert.Equal((":method", "POST"), RoundTrip(b => HpackEncoder.WriteIndexed(3, b)));
        Assert.Equal((":path", "/"), RoundTrip(b => HpackEncoder.WriteIndexed(4, b)));
        Assert.Equal((":scheme", "http"), RoundTrip(b => HpackEncoder.WriteIndexed(6, b)));
        Assert.Equal((":scheme", "https"), RoundTrip(b => HpackEncoder.WriteIndexed(7, b)));
        Assert.Equal(("www-authenticate", ""), RoundTrip(b => HpackEncoder.WriteIndexed(61, b)));
        Assert.Equal((":authority", "www.example.com"), RoundTrip(b => HpackEncoder.WriteLiteralWithNameIndex(1, "www.example.com"u8, b)));
        Assert.Equal((":method", "PATCH"), RoundTrip(b => HpackEncoder.WriteLiteralWithNameIndex(2, "PATCH", b)));
        Assert.Equal(("www-authenticate", "Basic"), RoundTrip(b => HpackEncoder.WriteLiteralWithNameIndex(61, "Basic", b)));

        // C.2.2's octets exactly.
        var written = HpackEncoder.WriteLiteralWithNameIndex(4, "/sample/path"u8, buffer);
        Assert.Equal(Hex("040c 2f73 616d 706c 652f 7061 7468"), buffer.AsSpan(0, written).ToArray());
    }

    [Fact]
    public void The_encoder_refuses_indexes_outside_the_static_table_and_short_destinations()
    {
        var buffer = new byte[64];
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.WriteIndexed(0, buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.WriteIndexed(62, buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.WriteLiteralWithNameIndex(0, "x", buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.WriteLiteralWithNameIndex(62, "x"u8, buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.WriteStatus(99, buffer));
        Assert.Throws<ArgumentOutOfRangeException>(() => HpackEncoder.WriteStatus(1000, buffer));
        Assert.Throws<ArgumentException>(() => HpackEncoder.WriteStatus(302, new byte[4]));
        Assert.Throws<ArgumentException>(() => HpackEncoder.WriteIndexed(2, []));
        Assert.Throws<ArgumentException>(() => HpackEncoder.WriteField("x-a", "bc", new byte[HpackEncoder.MaxFieldLength(3, 2) - 1]));
        Assert.Throws<ArgumentException>(() => HpackEncoder.WriteField("x-a"u8, "bc"u8, new byte[HpackEncoder.MaxFieldLength(3, 2) - 1]));
        Assert.Throws<ArgumentException>(() => HpackEncoder.WriteLiteralWithNameIndex(4, "/abc", new byte[5]));
        Assert.Equal(6, HpackEncoder.WriteLiteralWithNameIndex(4, "/abc", new byte[6]));
    }

    [Fact]
    public void Decoder_refuses_an_impossible_table_setting()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HpackDecoder(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HpackDecoder(HpackDecoder.MaxTableBytesLimit + 1));
    }
}
