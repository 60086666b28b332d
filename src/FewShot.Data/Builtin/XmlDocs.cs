using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;

namespace FewShot.Data.Builtin;

/// <summary>One documented API member: "T:System.String" gives Kind 'T', Name "System.String", Namespace "System".</summary>
public sealed record ApiEntry(char Kind, string Name, string Namespace, string Summary, string RawXml)
{
    /// <summary>The encyclopedia line: "System.String.Trim: Removes all leading and trailing white-space characters ...".</summary>
    public string Line => $"{Name}: {Summary}";
}

/// <summary>
/// Finds the .NET SDK's reference-pack XML documentation through the running runtime (dotnet root/packs/
/// Microsoft.NETCore.App.Ref and Microsoft.AspNetCore.App.Ref, newest version) and reads it member by member.
/// </summary>
public static partial class XmlDocs
{
    public static readonly IReadOnlyList<string> Packs = ["Microsoft.NETCore.App.Ref", "Microsoft.AspNetCore.App.Ref"];

    /// <summary>The XML files, sorted; throws with the places it looked when none is found.</summary>
    public static IReadOnlyList<string> Locate()
    {
        var roots = new List<string>();
        var runtime = RuntimeEnvironment.GetRuntimeDirectory();   // <root>/shared/Microsoft.NETCore.App/<version>/
        var fromRuntime = Path.GetFullPath(Path.Combine(runtime, "..", "..", ".."));
        roots.Add(fromRuntime);
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } env) roots.Add(env);
        roots.AddRange(["/usr/share/dotnet", "/usr/lib/dotnet", "/usr/local/share/dotnet"]);
        var files = new List<string>();
        foreach (var root in roots.Distinct())
        {
            foreach (var pack in Packs)
            {
                var packDir = Path.Combine(root, "packs", pack);
                if (!Directory.Exists(packDir)) continue;
                var newest = Directory.GetDirectories(packDir).OrderBy(d => Version.TryParse(Path.GetFileName(d).Split('-')[0], out var v) ? v : new Version(0, 0)).LastOrDefault();
                if (newest is null || !Directory.Exists(Path.Combine(newest, "ref"))) continue;
                var tfm = Directory.GetDirectories(Path.Combine(newest, "ref")).Order(StringComparer.Ordinal).LastOrDefault();
                if (tfm is not null) files.AddRange(Directory.GetFiles(tfm, "*.xml").Order(StringComparer.Ordinal));
            }
            if (files.Count > 0) return files;
        }
        throw new FileNotFoundException("the built-in corpus needs the .NET SDK's reference documentation (packs/Microsoft.NETCore.App.Ref/<version>/ref/net*/*.xml), "
            + $"and none was found under {string.Join(", ", roots.Distinct())}. Install the .NET SDK (not only the runtime), or set DOTNET_ROOT to its folder.");
    }

    /// <summary>Every member with a non-empty summary, in file order.</summary>
    public static IEnumerable<ApiEntry> Read(string file)
    {
        using var reader = XmlReader.Create(file, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, IgnoreComments = true });
        while (reader.ReadToFollowing("member"))
        {
            var raw = reader.ReadOuterXml();
            ApiEntry? entry;
            try { entry = Parse(raw); }
            catch (XmlException) { continue; }
            if (entry is not null) yield return entry;
            while (reader.NodeType == XmlNodeType.Element && reader.Name == "member")
            {
                raw = reader.ReadOuterXml();
                try { entry = Parse(raw); }
                catch (XmlException) { continue; }
                if (entry is not null) yield return entry;
            }
        }
    }

    static ApiEntry? Parse(string raw)
    {
        var element = XElement.Parse(raw);
        var id = (string?)element.Attribute("name");
        if (id is null || id.Length < 3 || id[1] != ':') return null;
        var summary = element.Element("summary");
        if (summary is null) return null;
        var text = Spaces().Replace(Render(summary), " ").Trim();
        if (text.Length < 10) return null;
        var name = Cref(id);
        var paren = name.IndexOf('(');
        var plain = paren >= 0 ? name[..paren] : name;
        var type = id[0] == 'T' ? plain : plain[..Math.Max(0, plain.LastIndexOf('.'))];
        var ns = type.LastIndexOf('.') is var dot and > 0 ? type[..dot] : type;
        if (plain.EndsWith(".#ctor") || plain.EndsWith(".#cctor")) plain = type + " constructor";
        return new ApiEntry(id[0], plain, ns, text, raw);
    }

    /// <summary>The text of a doc element: cref and langword references become their names.</summary>
    static string Render(XElement element)
    {
        var text = new StringBuilder();
        foreach (var node in element.Nodes())
        {
            if (node is XText t) text.Append(t.Value);
            else if (node is XElement e)
            {
                var cref = (string?)e.Attribute("cref") ?? (string?)e.Attribute("langword") ?? (string?)e.Attribute("name");
                if (e.Name.LocalName is "see" or "seealso" or "paramref" or "typeparamref" && cref is not null && e.IsEmpty) text.Append(Cref(cref));
                else if (e.Name.LocalName == "para") text.Append(' ').Append(Render(e)).Append(' ');
                else text.Append(Render(e));
            }
        }
        return text.ToString();
    }

    static string Cref(string cref)
    {
        var name = cref.Length > 2 && cref[1] == ':' ? cref[2..] : cref;
        var paren = name.IndexOf('(');
        return paren >= 0 ? name[..paren] : name;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
