using FewShot.Data.Contamination;

namespace FewShot.Data.Tests;

public class ContaminationTests
{
    [Fact]
    public void ThirteenGramsIgnoreCaseAndPunctuationAndSurviveSaveAndLoad()
    {
        var index = ContaminationIndex.Build(["The quick brown fox jumps over the lazy dog while the cat sleeps soundly by the warm fire."]);
        Assert.True(index.Overlaps("Intro... THE QUICK BROWN FOX, jumps over the lazy dog -- while the cat sleeps soundly! More text."));
        Assert.False(index.Overlaps("The quick brown fox jumps over the lazy dog while the cat naps."));   // 12 shared words only
        using var temp = new TempFolder();
        index.Save(temp.File("i.bin"));
        var loaded = ContaminationIndex.Load(temp.File("i.bin"));
        Assert.Equal(index.Count, loaded.Count);
        Assert.True(loaded.Overlaps("the quick brown fox jumps over the lazy dog while the cat sleeps"));
        File.WriteAllBytes(temp.File("bad.bin"), File.ReadAllBytes(temp.File("i.bin"))[..30]);
        Assert.Contains("bad.bin", Assert.Throws<FormatException>(() => ContaminationIndex.Load(temp.File("bad.bin"))).Message);
    }

    [Fact]
    public void ChineseTextIsIndexedByCharacter()
    {
        var index = ContaminationIndex.Build(["床前明月光疑是地上霜举头望明月低头思故乡"]);
        Assert.True(index.Overlaps("诗云：床前明月光，疑是地上霜，举头望明月。"));
    }
}
