using Microsoft.Extensions.FileSystemGlobbing;

namespace FewShot.Data.Readers;

/// <summary>Expands a source's paths (files, directories, globs such as "data/**/*.jsonl") into a sorted file list.</summary>
public static class PathResolver
{
    public static IReadOnlyList<string> Resolve(IEnumerable<string> paths, string baseDirectory, string sourceName, Func<string, bool>? fileFilter = null)
    {
        var files = new List<string>();
        foreach (var raw in paths)
        {
            var path = Path.IsPathRooted(raw) ? raw : Path.Combine(baseDirectory, raw);
            var found = new List<string>();
            if (File.Exists(path)) found.Add(Path.GetFullPath(path));
            else if (Directory.Exists(path))
                found.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(f => fileFilter?.Invoke(f) ?? true));
            else if (raw.IndexOfAny(['*', '?']) >= 0)
            {
                var (root, pattern) = SplitGlob(path);
                if (Directory.Exists(root))
                {
                    var matcher = new Matcher(StringComparison.Ordinal);
                    matcher.AddInclude(pattern);
                    found.AddRange(matcher.GetResultsInFullPath(root));
                }
            }
            if (found.Count == 0) throw new FileNotFoundException($"source '{sourceName}': path '{raw}' matches no file (looked in {Path.GetFullPath(path)})");
            found.Sort(StringComparer.Ordinal);
            files.AddRange(found);
        }
        return files;
    }

    static (string Root, string Pattern) SplitGlob(string path)
    {
        var parts = path.Replace('\\', '/').Split('/');
        var firstWild = Array.FindIndex(parts, p => p.IndexOfAny(['*', '?']) >= 0);
        var root = string.Join('/', parts[..firstWild]);
        return (root.Length == 0 ? "/" : root, string.Join('/', parts[firstWild..]));
    }
}
