using FewShot.Training.Loop;
using static TorchSharp.torch;

namespace FewShot.Training.Tests;

/// <summary>MFU's reference is fixed per machine: the best all-core rate `bench train` stored, never lowered by a busy run.</summary>
public class MachinePeakTests
{
    [Fact]
    public void TheStoredPeakOnlyRisesAndIsWhatMfuIsRelativeTo()
    {
        using var home = new TempFolder();
        var before = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        Environment.SetEnvironmentVariable("XDG_DATA_HOME", home.Path);   // LocalApplicationData on Linux
        try
        {
            Assert.StartsWith(home.Path, MachinePeak.StorePath);
            Assert.Null(MachinePeak.StoredCpuFlops());
            Assert.Equal(MachinePeak.DefaultCpuFlopsPerCore * Environment.ProcessorCount, MachinePeak.For(CPU));

            Assert.True(MachinePeak.Record(1.5e11));
            Assert.False(MachinePeak.Record(0.9e11));   // a busy machine measures lower: the stored peak stays
            Assert.Equal(1.5e11, MachinePeak.StoredCpuFlops());
            Assert.True(MachinePeak.Record(1.8e11));
            Assert.Equal(1.8e11, MachinePeak.For(CPU));

            File.WriteAllText(MachinePeak.StorePath, "{not json");
            Assert.Null(MachinePeak.StoredCpuFlops());   // unreadable: the documented constant again
        }
        finally { Environment.SetEnvironmentVariable("XDG_DATA_HOME", before); }
    }
}
