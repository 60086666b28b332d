using System.Globalization;
using FewShot.Data;
using FewShot.Data.Mixture;

namespace FewShot.Cli.Commands.Data;

/// <summary>Parsing shared by the data commands: the MIXTURE argument and large counts such as "300e9".</summary>
internal static class DataArguments
{
    public const string Builtin = "builtin";

    /// <summary>"builtin" (built into the cache on first use, with progress) or a mixture file.</summary>
    public static MixtureSpec LoadMixture(string mixture, IProgress<StageProgress>? progress = null) =>
        mixture.Equals(Builtin, StringComparison.OrdinalIgnoreCase) ? MixtureSpec.Builtin(progress: progress) : MixtureSpec.Load(mixture);

    /// <summary>
    /// A positive count written as a number ("300000000000", "300e9", "1.5e6") or with a suffix k, M, B (or G), T:
    /// "300B". Throws FormatException naming the option.
    /// </summary>
    public static double ParseCount(string option, string text)
    {
        var trimmed = text.Trim();
        var scale = trimmed.Length > 1 ? char.ToUpperInvariant(trimmed[^1]) switch
        {
            'K' => 1e3, 'M' => 1e6, 'B' or 'G' => 1e9, 'T' => 1e12,
            _ => 1.0,
        } : 1.0;
        if (scale != 1.0) trimmed = trimmed[..^1];
        if (!double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new FormatException($"{option}: '{text}' is not a number (write e.g. 300e9 or 300B)");
        value *= scale;
        if (!(value > 0)) throw new FormatException($"{option}: must be positive, got '{text}'");
        return value;
    }
}
