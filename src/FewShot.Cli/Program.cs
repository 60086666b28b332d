using FewShot.Cli;
using FewShot.Cli.Composition;
using FewShot.Model.Runtime;
using FewShot.Training.Data;

NativeRuntime.EnsureRegistered();
DataSources.PreparedFolder = PreparedDataSource.Open; // the trainer reads prepared data folders through the data library
return await CommandLine.Build().Parse(args).InvokeAsync();
