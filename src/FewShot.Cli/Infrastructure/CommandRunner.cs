using Microsoft.Extensions.Options;
using System.CommandLine;

namespace FewShot.Cli.Infrastructure;

/// <summary>Runs a command and turns exceptions into exit codes: bad input gets one line on stderr, never a stack trace unless --verbose.</summary>
public static class CommandRunner
{
    /// <summary>Overridden by tests to capture output.</summary>
    public static Func<bool, bool, CliContext> ContextFactory { get; set; } = CliContext.ForConsole;

    public static async Task<int> RunAsync(CliCommand command, ParseResult parse, CancellationToken cancel)
    {
        var verbose = parse.GetValue(CommonOptions.Verbose);
        var context = ContextFactory(parse.GetValue(CommonOptions.Json), verbose);
        try
        {
            return await command.ExecuteAsync(parse, context, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            context.Error("cancelled");
            return ExitCodes.Cancelled;
        }
        catch (Exception e) when (IsBadInput(e))
        {
            Report(context, e, verbose);
            return ExitCodes.BadInput;
        }
        catch (Exception e)
        {
            Report(context, e, verbose: true);
            return ExitCodes.Failure;
        }
    }

    /// <summary>Exceptions that describe a problem with the user's input rather than with the program.</summary>
    public static bool IsBadInput(Exception e) => e is ArgumentException or FormatException or InvalidDataException
        or FileNotFoundException or DirectoryNotFoundException or NotSupportedException or UnauthorizedAccessException
        or System.Text.Json.JsonException or OptionsValidationException;

    static void Report(CliContext context, Exception e, bool verbose)
    {
        // A settings section that failed validation at start: its failures, each naming the setting.
        context.Error(e is OptionsValidationException invalid ? string.Join("; ", invalid.Failures) : e.Message);
        if (verbose) context.ErrorDetail(e.ToString());
    }
}
