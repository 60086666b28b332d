namespace FewShot.Cli.Infrastructure;

/// <summary>Human-readable numbers: 125.2M, 174.6B, 1.4 GiB.</summary>
public static class Units
{
    public static string Count(long n) => n switch
    {
        >= 1_000_000_000_000 => $"{n / 1e12:F2}T",
        >= 1_000_000_000 => $"{n / 1e9:F2}B",
        >= 1_000_000 => $"{n / 1e6:F1}M",
        >= 1_000 => $"{n / 1e3:F1}k",
        _ => n.ToString(),
    };

    public static string Bytes(long n) => n switch
    {
        >= 1L << 40 => $"{n / (double)(1L << 40):F1} TiB",
        >= 1L << 30 => $"{n / (double)(1L << 30):F1} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };
}
