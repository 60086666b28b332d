using FewShot.Cli;
using FewShot.Model.Runtime;

NativeRuntime.EnsureRegistered();
return await CommandLine.Build().Parse(args).InvokeAsync(CommandLine.Invocation());
