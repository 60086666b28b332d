using System.Text.Json.Serialization;

namespace FewShot.Model.Tokenization;

/// <summary>
/// The tokenizer.json of a model or data folder. <see cref="Kind"/> selects the implementation:
/// "r50k_base" (GPT-2/GPT-3 BPE, no other fields), "char" (<see cref="Alphabet"/> lists the characters in id order),
/// "bytes" (256 byte values), "bpe" (a trained byte-level BPE in <see cref="VocabFile"/> and <see cref="MergesFile"/>,
/// relative to the folder).
/// </summary>
public sealed record TokenizerDescription
{
    [JsonPropertyName("kind")] public required string Kind { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("end_of_text")] public int EndOfText { get; init; }
    [JsonPropertyName("alphabet")] public string? Alphabet { get; init; }
    [JsonPropertyName("vocab_file")] public string? VocabFile { get; init; }
    [JsonPropertyName("merges_file")] public string? MergesFile { get; init; }
}
