using System.Text;

namespace FewShot.Evaluation.TaskFiles;

/// <summary>A template with {field} placeholders; "{{" and "}}" stand for literal braces.</summary>
public static class Template
{
    /// <summary>The field names a template uses, in order of appearance.</summary>
    public static IReadOnlyList<string> Fields(string template, string where)
    {
        var names = new List<string>();
        Walk(template, where, name => { names.Add(name); return ""; });
        return names;
    }

    public static string Render(string template, IReadOnlyDictionary<string, string> fields, string where) =>
        Walk(template, where, name => fields.TryGetValue(name, out var value)
            ? value
            : throw new FormatException($"{where} names unknown field '{name}' (documents have: {string.Join(", ", fields.Keys.Order())})"));

    static string Walk(string template, string where, Func<string, string> field)
    {
        var text = new StringBuilder(template.Length);
        for (var i = 0; i < template.Length; i++)
        {
            var c = template[i];
            if (c == '{' && i + 1 < template.Length && template[i + 1] == '{') { text.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < template.Length && template[i + 1] == '}') { text.Append('}'); i++; continue; }
            if (c == '}') throw new FormatException($"{where}: unmatched '}}' at offset {i}");
            if (c != '{') { text.Append(c); continue; }
            var end = template.IndexOf('}', i + 1);
            if (end < 0) throw new FormatException($"{where}: unclosed '{{' at offset {i}");
            text.Append(field(template[(i + 1)..end]));
            i = end;
        }
        return text.ToString();
    }
}
