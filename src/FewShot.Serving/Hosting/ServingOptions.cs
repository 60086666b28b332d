using System.ComponentModel.DataAnnotations;

namespace FewShot.Serving.Hosting;

/// <summary>
/// Settings of <c>fewshot serve</c>, bound from the "Serving" section: an appsettings-style JSON file, then environment
/// variables (FEWSHOT_Serving__MaxQueueLength=...), then command-line flags. Validated when the server starts.
/// </summary>
public sealed class ServingOptions
{
    public const string Section = "Serving";

    /// <summary>The model folder to serve (config.json, model.safetensors, tokenizer.json); may be empty when upstream model servers are given.</summary>
    public string Model { get; set; } = "";

    /// <summary>The name clients send as "model"; defaults to the folder's name.</summary>
    public string? ModelName { get; set; }

    /// <summary>The model the chat page talks to, e.g. an upstream chat model (default: the in-process one). It is listed first in /v1/models, which is where the page looks.</summary>
    public string? PageModel { get; set; }

    /// <summary>Sequences decoded together in one batch (rows of the KV cache).</summary>
    [Range(1, 256)] public int MaxConcurrentSequences { get; set; } = 8;

    /// <summary>Sequences that may wait for a free row; beyond this, requests get 503 with Retry-After.</summary>
    [Range(0, 100_000)] public int MaxQueueLength { get; set; } = 64;

    /// <summary>Largest request body accepted (413 beyond).</summary>
    [Range(1024, 100_000_000)] public int MaxRequestBodyBytes { get; set; } = 1_000_000;

    /// <summary>Largest "n" (choices per request).</summary>
    [Range(1, 128)] public int MaxChoices { get; set; } = 8;

    /// <summary>max_tokens when a completion request gives none (chat uses its mode's default).</summary>
    [Range(1, 1_000_000)] public int DefaultMaxTokens { get; set; } = 16;

    /// <summary>A folder of extra or replacement chat modes (*.json), read after the shipped ones.</summary>
    public string? ModesFolder { get; set; }

    /// <summary>
    /// How the model decodes: "f32" or "q8_0" (the fused CPU decoder with 32- or 8-bit weights), "torch" (the TorchSharp
    /// forward pass), or empty: the fused decoder in the format the model folder stores.
    /// </summary>
    [RegularExpression("^(|f32|q8_0|torch)$", ErrorMessage = "Serving:Weights (--weights) must be f32, q8_0 or torch")]
    public string Weights { get; set; } = "";

    /// <summary>Decoding threads (libtorch's intra-op threads and the fused decoder's); 0: all cores.</summary>
    [Range(0, 1024)] public int Threads { get; set; }

    /// <summary>Rows x tokens per forward pass when scoring prompts (echo with logprobs): bounds the (rows, tokens, vocab) logits.</summary>
    [Range(64, 1_000_000)] public int ScoringTokenBudget { get; set; } = 4096;

    /// <summary>Seconds a busy server asks clients to wait (Retry-After).</summary>
    [Range(1, 3600)] public int RetryAfterSeconds { get; set; } = 1;
}
