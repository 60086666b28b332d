using System.Text.Json.Nodes;

namespace FewShot.Training.Checkpoints;

/// <summary>
/// What a checkpoint records besides its tensors: where the run stands (step, tokens, best validation loss), the data
/// source's position, and the checksum of the tensor file it describes.
/// </summary>
public sealed record CheckpointInfo(
    long Step,
    long Tokens,
    double? ValidationLoss,
    double? BestValidationLoss,
    JsonNode DataState,
    string RecipeFingerprint,
    string TensorFile,
    string Sha256,
    long Bytes)
{
    public const int FormatVersion = 1;

    public JsonObject ToJson() => new()
    {
        ["format"] = FormatVersion,
        ["step"] = Step,
        ["tokens"] = Tokens,
        ["val_loss"] = ValidationLoss,
        ["best_val_loss"] = BestValidationLoss,
        ["data_state"] = DataState.DeepClone(),
        ["recipe_fingerprint"] = RecipeFingerprint,
        ["tensor_file"] = TensorFile,
        ["sha256"] = Sha256,
        ["bytes"] = Bytes,
    };

    public static CheckpointInfo FromJson(JsonNode node, string where)
    {
        try
        {
            if (node["format"]!.GetValue<int>() != FormatVersion) throw new InvalidDataException($"{where}: unknown checkpoint format {node["format"]}");
            return new CheckpointInfo(
                node["step"]!.GetValue<long>(),
                node["tokens"]!.GetValue<long>(),
                node["val_loss"]?.GetValue<double>(),
                node["best_val_loss"]?.GetValue<double>(),
                node["data_state"]!.DeepClone(),
                node["recipe_fingerprint"]!.GetValue<string>(),
                node["tensor_file"]!.GetValue<string>(),
                node["sha256"]!.GetValue<string>(),
                node["bytes"]!.GetValue<long>());
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{where}: malformed checkpoint description ({e.Message})");
        }
    }
}
