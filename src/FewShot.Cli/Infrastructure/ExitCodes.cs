namespace FewShot.Cli.Infrastructure;

/// <summary>Process exit codes of the fewshot command.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The work failed for a reason outside the user's input (a bug, or the machine).</summary>
    public const int Failure = 1;
    /// <summary>Bad input: a missing or corrupt file, an invalid option or config value.</summary>
    public const int BadInput = 2;
    /// <summary>Interrupted (Ctrl+C).</summary>
    public const int Cancelled = 130;
}
