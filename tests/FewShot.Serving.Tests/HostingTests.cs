using FewShot.Serving.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FewShot.Serving.Tests;

/// <summary>Settings: a file, then environment, then flags; validated before the server serves anything.</summary>
public sealed class HostingTests
{
    [Fact]
    public async Task FlagsOverrideTheSettingsFile()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("fewshot-settings-").FullName, "serving.json");
        File.WriteAllText(file, """{"Serving": {"MaxQueueLength": 5, "MaxChoices": 3}}""");
        await using var app = ServingHost.Build(new Dictionary<string, string?> { ["Serving:Model"] = TinyModel.Folder, ["Serving:MaxQueueLength"] = "7" }, file);
        var options = app.Services.GetRequiredService<IOptions<ServingOptions>>().Value;
        Assert.Equal(7, options.MaxQueueLength);
        Assert.Equal(3, options.MaxChoices);
    }

    [Theory]
    [InlineData("Serving:MaxConcurrentSequences", "0", "MaxConcurrentSequences")]
    [InlineData("Serving:Model", "/no/such/model", "model folder does not exist")]
    [InlineData("Serving:ModesFolder", "/no/such/modes", "ModesFolder")]
    public async Task InvalidSettingsStopTheServerAtStart(string key, string value, string expected)
    {
        await using var app = ServingHost.Build(new Dictionary<string, string?> { ["Serving:Model"] = TinyModel.Folder, [key] = value }, urls: ["http://127.0.0.1:0"]);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains(expected, error.Message);
    }
}
