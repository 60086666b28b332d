using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace FewShot.Tasks.DotNetDocs;

/// <summary>
/// Reads type summaries ("T:" members) from the .NET SDK's reference-assembly XML documentation
/// (dotnet/packs/Microsoft.NETCore.App.Ref/VERSION/ref/netX/*.xml), found from the running runtime's directory.
/// </summary>
public static partial class DotNetTypeDocs
{
    /// <summary>
    /// Namespaces (and everything below them) that the pretraining corpus leaves out, so that questions about them are
    /// out of distribution. The corpus builder excludes every member whose namespace <see cref="IsHeldOut"/>.
    /// </summary>
    public static IReadOnlyList<string> HeldOutNamespaces { get; } = ["System.Xml", "System.Security.Cryptography", "System.Net"];

    /// <summary>Longer summaries are skipped, so that a question fits a 256-token context even at one token per byte.</summary>
    public const int MaxSummaryLength = 160;

    public static bool IsHeldOut(string @namespace) => HeldOutNamespaces.Any(h =>
        @namespace == h || @namespace.StartsWith(h + ".", StringComparison.Ordinal));

    static readonly Lazy<IReadOnlyList<TypeDoc>> installed = new(() => Load(FindReferenceDocs()));

    /// <summary>Every documented type of the installed SDK, sorted by full name.</summary>
    public static IReadOnlyList<TypeDoc> Installed => installed.Value;

    public static IReadOnlyList<TypeDoc> Split(NamespaceSplit split) =>
        [.. Installed.Where(t => IsHeldOut(t.Namespace) == (split == NamespaceSplit.HeldOut))];

    /// <summary>
    /// The folder of reference XML docs: from the runtime directory (dotnet/shared/Microsoft.NETCore.App/X.Y.Z/) up to
    /// the dotnet root, then packs/Microsoft.NETCore.App.Ref/newest/ref/newest. Throws when no SDK is installed.
    /// </summary>
    public static string FindReferenceDocs()
    {
        var runtime = new DirectoryInfo(RuntimeEnvironment.GetRuntimeDirectory());
        var root = runtime.Parent?.Parent?.Parent?.FullName ?? "";
        var packs = Path.Combine(root, "packs", "Microsoft.NETCore.App.Ref");
        var folder = Directory.Exists(packs)
            ? Directory.GetDirectories(packs).OrderByDescending(d => Version.TryParse(Path.GetFileName(d).Split('-')[0], out var v) ? v : new Version())
                .SelectMany<string, string>(d => Directory.Exists(Path.Combine(d, "ref")) ? Directory.GetDirectories(Path.Combine(d, "ref")).OrderDescending() : [])
                .FirstOrDefault(d => Directory.EnumerateFiles(d, "*.xml").Any())
            : null;
        return folder ?? throw new FileNotFoundException(
            $"{packs}: no .NET reference documentation found (the .NET questions need a .NET SDK, not only a runtime)");
    }

    /// <summary>Reads every T: member with a summary from the *.xml files in <paramref name="folder"/>.</summary>
    public static IReadOnlyList<TypeDoc> Load(string folder)
    {
        var types = new Dictionary<string, TypeDoc>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(folder, "*.xml").Order(StringComparer.Ordinal))
        {
            XDocument document;
            try { document = XDocument.Load(file); }
            catch (System.Xml.XmlException) { continue; } // not a documentation file
            foreach (var member in document.Descendants("member"))
            {
                var id = (string?)member.Attribute("name");
                var summary = member.Element("summary");
                if (id is null || !id.StartsWith("T:", StringComparison.Ordinal) || summary is null) continue;
                var fullName = id[2..];
                var dot = fullName.LastIndexOf('.');
                if (dot <= 0) continue;
                var text = PlainText(summary);
                if (text.Length is < 20 or > MaxSummaryLength) continue;
                var name = fullName[(dot + 1)..].Split('`')[0];
                types.TryAdd(fullName, new TypeDoc(fullName[..dot], name, text));
            }
        }
        return [.. types.Values.OrderBy(t => t.FullName, StringComparer.Ordinal)];
    }

    /// <summary>A summary element as one line: cref targets by their short name, langwords and paramrefs as words.</summary>
    public static string PlainText(XElement summary)
    {
        var text = string.Concat(summary.Nodes().Select(Render));
        return Spaces().Replace(text, " ").Trim();
    }

    static string Render(XNode node) => node switch
    {
        XText text => text.Value,
        XElement e when (string?)e.Attribute("cref") is { } cref => ShortName(cref),
        XElement e when (string?)e.Attribute("langword") is { } word => word,
        XElement e when (string?)e.Attribute("name") is { } name && !e.Nodes().Any() => name,
        XElement e => string.Concat(e.Nodes().Select(Render)),
        _ => "",
    };

    // "T:System.Collections.Generic.List`1" -> "List"; "M:System.String.Split(System.Char[])" -> "Split".
    static string ShortName(string cref)
    {
        var name = cref.Contains(':') ? cref[(cref.IndexOf(':') + 1)..] : cref;
        name = name.Split('(')[0];
        name = name[(name.LastIndexOf('.') + 1)..];
        return name.Split('`')[0];
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
