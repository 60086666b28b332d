using System.IO.Compression;
using System.Text;
using System.Text.Json;
using FewShot.Data.Mixture;
using FewShot.Data.Readers;
using Parquet;
using Parquet.Schema;

namespace FewShot.Data.Tests;

public class ReaderTests
{
    static List<SourceDocument> Read(SourceSpec spec, string folder, out ReadLog log)
    {
        log = new ReadLog();
        return [.. DocumentReader.Read(spec, folder, log, new ReaderLimits { MaxRecordBytes = 4 << 20 })];
    }

    static string Jsonl(IEnumerable<string> texts) => string.Concat(texts.Select(t => JsonSerializer.Serialize(new { text = t, id = 1 }) + "\n"));

    [Fact]
    public void TextFileIsOneDocumentOrSplitBySeparator()
    {
        var whole = Read(new SourceSpec { Name = "s", Paths = [TestPaths.Shakespeare] }, ".", out _);
        Assert.Equal(File.ReadAllText(TestPaths.Shakespeare), Assert.Single(whole).Text);
        var split = Read(new SourceSpec { Name = "s", Paths = [TestPaths.Shakespeare], Separator = "\n\n" }, ".", out _);
        Assert.Equal(File.ReadAllText(TestPaths.Shakespeare).Split("\n\n").Count(s => s.Length > 0), split.Count);
        Assert.StartsWith("First Citizen:\nBefore we proceed", split[0].Text);
        Assert.EndsWith(":1", split[0].Origin);
        Assert.EndsWith(":4", split[1].Origin);   // the second speech starts on line 4
    }

    [Fact]
    public void JsonLinesPlainGzipAndZstdGiveTheSameDocuments()
    {
        using var temp = new TempFolder();
        var text = Jsonl(TestPaths.Speeches.Take(300));
        File.WriteAllText(temp.File("a.jsonl"), text);
        using (var gz = new GZipStream(File.Create(temp.File("b.jsonl.gz")), CompressionLevel.Fastest)) gz.Write(Encoding.UTF8.GetBytes(text));
        File.WriteAllBytes(temp.File("c.jsonl.zst"), new ZstdSharp.Compressor(3).Wrap(Encoding.UTF8.GetBytes(text)).ToArray());
        var expected = TestPaths.Speeches.Take(300).ToList();
        foreach (var name in new[] { "a.jsonl", "b.jsonl.gz", "c.jsonl.zst" })
        {
            var docs = Read(new SourceSpec { Name = "s", Paths = [name] }, temp.Path, out var log);
            Assert.Equal(expected, docs.Select(d => d.Text));
            Assert.Equal(0, log.Skipped);
        }
        // A glob and a directory find all three files.
        Assert.Equal(900, Read(new SourceSpec { Name = "s", Paths = ["*.json*"] }, temp.Path, out _).Count);
        Assert.Equal(900, Read(new SourceSpec { Name = "s", Paths = [temp.Path] }, ".", out _).Count);
    }

    [Fact]
    public void ParquetTextColumnIsRead()
    {
        using var temp = new TempFolder();
        var expected = TestPaths.Speeches.Take(200).ToArray();
        WriteParquet(temp.File("d.parquet"), "content", expected);
        var docs = Read(new SourceSpec { Name = "s", Paths = ["d.parquet"], TextField = "content" }, temp.Path, out _);
        Assert.Equal(expected, docs.Select(d => d.Text));
        var error = Assert.Throws<FormatException>(() => Read(new SourceSpec { Name = "s", Paths = ["d.parquet"], TextField = "text" }, temp.Path, out _));
        Assert.Contains("d.parquet", error.Message);
        Assert.Contains("'text'", error.Message);
    }

    [Fact]
    public void BadJsonLinesAreSkippedWithFileAndLine()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("bad.jsonl"), "{\"text\":\"good one\"}\nnot json at all\n{\"body\":\"no text field\"}\n[1,2]\n{\"text\":\"good two\"}\n");
        var docs = Read(new SourceSpec { Name = "s", Paths = ["bad.jsonl"] }, temp.Path, out var log);
        Assert.Equal(["good one", "good two"], docs.Select(d => d.Text));
        Assert.Equal(3, log.Skipped);
        Assert.Contains(log.FirstMessages, m => m.Contains("bad.jsonl:2") && m.Contains("not valid JSON"));
        Assert.Contains(log.FirstMessages, m => m.Contains("bad.jsonl:3") && m.Contains("'text' is missing"));
    }

    [Fact]
    public void TruncatedGzipKeepsWhatWasReadAndNamesTheFile()
    {
        using var temp = new TempFolder();
        var buffer = new MemoryStream();
        using (var gz = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(Encoding.UTF8.GetBytes(Jsonl(TestPaths.Speeches.Take(2000))));
        File.WriteAllBytes(temp.File("cut.jsonl.gz"), buffer.ToArray()[..(int)(buffer.Length / 2)]);
        var docs = Read(new SourceSpec { Name = "s", Paths = ["cut.jsonl.gz"] }, temp.Path, out var log);
        Assert.InRange(docs.Count, 1, 1999);
        Assert.True(log.Skipped >= 1);
        Assert.True(log.FirstMessages.Any(m => m.Contains("cut.jsonl.gz") && m.Contains("truncated or corrupt")), string.Join("|", log.FirstMessages));
    }

    [Fact]
    public void TruncatedZstdKeepsWhatWasReadAndNamesTheFile()
    {
        using var temp = new TempFolder();
        var whole = new ZstdSharp.Compressor(3).Wrap(Encoding.UTF8.GetBytes(Jsonl(TestPaths.Speeches.Take(2000)))).ToArray();
        File.WriteAllBytes(temp.File("cut.jsonl.zst"), whole[..(whole.Length / 2)]);
        var docs = Read(new SourceSpec { Name = "s", Paths = ["cut.jsonl.zst"] }, temp.Path, out var log);
        Assert.InRange(docs.Count, 1, 1999);
        Assert.True(log.FirstMessages.Any(m => m.Contains("cut.jsonl.zst")), string.Join("|", log.FirstMessages));
    }

    [Fact]
    public void HundredMegabyteLineIsSkippedWithoutHoldingIt()
    {
        using var temp = new TempFolder();
        using (var writer = new StreamWriter(temp.File("huge.jsonl")))
        {
            writer.Write("{\"text\":\"before\"}\n{\"text\":\"");
            var block = new string('x', 1 << 20);
            for (var i = 0; i < 100; i++) writer.Write(block);
            writer.Write("\"}\n{\"text\":\"after\"}\n");
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var docs = Read(new SourceSpec { Name = "s", Paths = ["huge.jsonl"] }, temp.Path, out var log);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Equal(["before", "after"], docs.Select(d => d.Text));
        Assert.Contains(log.FirstMessages, m => m.Contains("huge.jsonl:2") && m.Contains("longer than"));
        Assert.True(allocated < 40_000_000, $"reading allocated {allocated:N0} bytes");
    }

    [Fact]
    public void OverlongTextDocumentIsSkippedAndItsNeighboursKept()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("t.txt"), "first doc\nline two\n===\n" + new string('y', 5 << 20) + "\n===\nthird doc");
        var docs = Read(new SourceSpec { Name = "s", Paths = ["t.txt"], Separator = "\n===\n" }, temp.Path, out var log);
        Assert.Equal(["first doc\nline two", "third doc"], docs.Select(d => d.Text));
        Assert.EndsWith("t.txt:6", docs[1].Origin);
        Assert.Contains("t.txt:4: document longer than", Assert.Single(log.FirstMessages));
    }

    [Fact]
    public void MissingPathNamesTheSourceAndPath()
    {
        var error = Assert.Throws<FileNotFoundException>(() => Read(new SourceSpec { Name = "web", Paths = ["/nonexistent/x/*.jsonl"] }, ".", out _));
        Assert.Contains("web", error.Message);
        Assert.Contains("/nonexistent/x/*.jsonl", error.Message);
    }

    internal static void WriteParquet(string path, string column, string[] values)
    {
        var field = new DataField<string>(column);
        using var stream = File.Create(path);
        var writer = ParquetWriter.CreateAsync(new ParquetSchema(field), stream).GetAwaiter().GetResult();
        using (var group = writer.CreateRowGroup())
            group.WriteAsync(field, values).GetAwaiter().GetResult();
        writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
