using System.Text.Json;
using System.Text.Json.Nodes;

namespace FewShot.Training.Recipes;

/// <summary>Reads recipe JSON (a file or an object) into a <see cref="TrainingRecipe"/>, rejecting unknown keys.</summary>
public static class RecipeReader
{
    public static TrainingRecipe Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: recipe file not found");
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new FormatException($"{path}: not valid JSON ({e.Message})"); }
        return FromJson(node, path);
    }

    public static TrainingRecipe FromJson(JsonNode? node, string where, TrainingRecipe? onto = null)
    {
        if (node is not JsonObject o) throw new FormatException($"{where}: a recipe must be a JSON object");
        var recipe = onto ?? new TrainingRecipe();
        foreach (var (name, value) in o) Apply(recipe, name, value, where);
        return recipe;
    }

    /// <summary>Sets one key; an unknown key is an error that names the nearest valid key.</summary>
    public static void Apply(TrainingRecipe recipe, string name, JsonNode? value, string where)
    {
        var key = RecipeKeys.Find(name)
            ?? throw new FormatException($"{where}: unknown recipe key '{name}' (did you mean '{Nearest(name)}'?)");
        if (value is not null and not JsonValue) throw new FormatException($"{where}: recipe '{name}' must be a single value");
        try { key.Set(recipe, (JsonValue?)value); }
        catch (FormatException e) { throw new FormatException($"{where}: {e.Message}"); }
    }

    /// <summary>The valid key with the smallest edit distance to <paramref name="name"/>.</summary>
    public static string Nearest(string name) =>
        RecipeKeys.All.Select(k => k.Name).MinBy(k => EditDistance(name.ToLowerInvariant(), k))!;

    static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
