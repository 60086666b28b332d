using System.Text.Json.Nodes;
using FewShot.Training.Batches;
using FewShot.Training.Recipes;

namespace FewShot.Training.Tests;

public class RecipeTests
{
    [Fact]
    public void UnknownKeyIsNamedWithTheNearestValidKey()
    {
        var e = Assert.Throws<FormatException>(() => RecipeReader.FromJson(JsonNode.Parse("""{"n_layer": 2, "learning_rat": 0.001}"""), "r.json"));
        Assert.Contains("'learning_rat'", e.Message);
        var e2 = Assert.Throws<FormatException>(() => RecipeReader.FromJson(JsonNode.Parse("""{"warmup_iter": 5}"""), "r.json"));
        Assert.Contains("did you mean 'warmup_iters'", e2.Message);
    }

    [Fact]
    public void FileValuesAreReadAndFlagsOverrideThem()
    {
        using var temp = new TempFolder();
        var path = Path.Combine(temp.Path, "recipe.json");
        File.WriteAllText(path, """{"n_layer": 3, "n_head": 2, "n_embd": 64, "lr": 0.002, "batch_tokens": 4096, "tokenizer": "char"}""");
        var recipe = RecipeReader.Load(path);
        RecipeReader.Apply(recipe, "lr", RecipeKeys.ParseFlagValue("1e-3"), "--lr");
        RecipeReader.Apply(recipe, "n_ctx", RecipeKeys.ParseFlagValue("32"), "--ctx");
        Assert.Equal((3, 2, 64, 32), (recipe.Layers!.Value, recipe.Heads!.Value, recipe.Embedding!.Value, recipe.Context));
        Assert.Equal(1e-3, recipe.PeakLearningRate);
        Assert.Equal(4096, recipe.FullBatchTokens);
        Assert.Equal("char", recipe.Tokenizer);
        Assert.Equal(recipe.ToJson().ToJsonString(), recipe.Clone().ToJson().ToJsonString());
    }

    [Fact]
    public void WeightInitReachesTheModelConfigAndABadValueIsNamed()
    {
        var recipe = new TrainingRecipe();
        Assert.Equal("gpt2", recipe.ModelConfig(66).WeightInit);
        RecipeReader.Apply(recipe, "weight_init", RecipeKeys.ParseFlagValue("pytorch"), "--weight-init");
        Assert.Equal("pytorch", recipe.ModelConfig(66).WeightInit);
        Assert.Equal("pytorch", recipe.Clone().WeightInit);
        var e = Assert.Throws<FormatException>(() => RecipeReader.FromJson(JsonNode.Parse("""{"weight_init": "xavier"}"""), "r.json"));
        Assert.Equal("r.json: recipe 'weight_init' must be gpt2 or pytorch, got 'xavier'", e.Message);
    }

    [Fact]
    public void DefaultWeightInitLeavesTheFingerprintOfEarlierRunsAlone()
    {
        // Runs from before the key existed have no weight_init in their recipe or config: their checkpoints must still resume.
        var recipe = new TrainingRecipe { Layers = 2, Heads = 2, Embedding = 16, ContextLength = 16 };
        var config = recipe.ModelConfig(30);
        var json = recipe.ToJson();
        json.Remove("weight_init");
        var modelJson = config.ToJson();
        modelJson.Remove("weight_init");
        json["model"] = modelJson;
        var before = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(RemoveBookkeeping(json).ToJsonString())))[..16];
        Assert.Equal(before, FewShot.Training.Loop.Trainer.Fingerprint(recipe, config));
        recipe.WeightInit = "pytorch";
        Assert.NotEqual(before, FewShot.Training.Loop.Trainer.Fingerprint(recipe, recipe.ModelConfig(30)));
    }

    static JsonObject RemoveBookkeeping(JsonObject json)
    {
        foreach (var key in new[] { "eval_interval", "eval_batches", "sample_tokens", "checkpoint_interval", "keep_checkpoints", "log_interval", "iters", "train_tokens", "device", "preset", "threads", "precision" })
            json.Remove(key);
        return json;
    }

    [Fact]
    public void PrecisionIsReadAndABadValueIsNamed()
    {
        var recipe = new TrainingRecipe();
        Assert.Equal("fp32", recipe.Precision);
        RecipeReader.Apply(recipe, "precision", RecipeKeys.ParseFlagValue("bf16"), "--precision");
        Assert.Equal("bf16", recipe.Clone().Precision);
        var e = Assert.Throws<FormatException>(() => RecipeReader.FromJson(JsonNode.Parse("""{"precision": "fp16"}"""), "r.json"));
        Assert.Equal("r.json: recipe 'precision' must be fp32 or bf16, got 'fp16'", e.Message);
        // A run may change precision when it resumes (another machine): like the thread count, it is not in the fingerprint.
        var config = recipe.ModelConfig(30);
        Assert.Equal(FewShot.Training.Loop.Trainer.Fingerprint(recipe, config), FewShot.Training.Loop.Trainer.Fingerprint(new TrainingRecipe(), config));
    }

    [Fact]
    public void HeadsThatDoNotDivideTheWidthAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingRecipe { Layers = 2, Heads = 3, Embedding = 64 }.Validate());
        Assert.Contains("n_head", e.Message);
        Assert.Contains("64", e.Message);
    }

    [Fact]
    public void BatchThatIsNotAMultipleOfTheMicroBatchIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingRecipe { MicroBatch = 12, ContextLength = 64, BatchTokens = 1000 }.Validate());
        Assert.Contains("batch_tokens", e.Message);
        Assert.Contains("768", e.Message);
    }

    [Fact]
    public void ContextLongerThanTheDataIsRejected()
    {
        var source = new TextBatchSource(Enumerable.Range(0, 300).Select(i => i % 7).ToArray(), seed: 1);
        source.CheckContext(16); // fits: 270 training and 30 validation tokens
        var e = Assert.Throws<ArgumentException>(() => source.CheckContext(64));
        Assert.Contains("validation split has only 30 tokens", e.Message);
    }

    [Fact]
    public void PresetSuppliesShapeBatchAndLearningRate()
    {
        var recipe = new TrainingRecipe { Preset = "mini", MicroBatch = 4 }.Validate();
        var config = recipe.ModelConfig(8192);
        Assert.Equal((6, 6, 384, 256), (config.Layers, config.Heads, config.Embedding, config.ContextLength));
        Assert.Equal(8 * 256, recipe.FullBatchTokens); // the preset's batch, reached by accumulating 2 micro-batches of 4
        Assert.Equal(1e-3, recipe.PeakLearningRate);
        Assert.Throws<ArgumentException>(() => new TrainingRecipe { Preset = "gpt5" }.Validate());
    }
}
