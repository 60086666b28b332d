using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FewShot.Model.Storage;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FewShot.Serving.Tests;

/// <summary>
/// /v1/completions as GPT-3's API had it: echo + logprobs + max_tokens 0 returns every prompt token's log-probability
/// (checked against the model run here, in-process), lists of prompts and token-id prompts, n and best_of, logit_bias,
/// chat logprobs and logprobs in streams.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class CompletionsApiTests(ServerFixture fixture)
{
    TestServer Server => fixture.Server;

    // log P(token t | tokens before) for t >= 1, from one full forward pass on a copy of the served model.
    static double[] Reference(int[] ids)
    {
        using var loaded = ModelFolder.Load(TinyModel.Folder);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        loaded.Model.eval();
        var logits = loaded.Model.Forward(tensor(ids.Select(i => (long)i).ToArray()).view(1, -1), cache: null)[0];
        var logp = F.log_softmax(logits, -1);
        return [.. Enumerable.Range(1, ids.Length - 1).Select(t => logp[t - 1, ids[t]].item<float>() * 1.0)];
    }

    static int[] Bytes(string text) => new FewShot.Model.Tokenization.ByteTokenizer().Encode(text);

    async Task<JsonObject> Post(object request, string path = "v1/completions")
    {
        var response = await Server.Http.PostAsync(path, new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!.AsObject();
    }

    static void AssertMatches(int[] ids, JsonNode logprobs)
    {
        var expected = Reference(ids);
        var got = logprobs["token_logprobs"]!.AsArray();
        Assert.Equal(ids.Length, got.Count);
        Assert.Null(got[0]);
        Assert.Null(logprobs["top_logprobs"]![0]);
        for (var t = 1; t < ids.Length; t++) Assert.Equal(expected[t - 1], got[t]!.GetValue<double>(), 1e-5);
    }

    [Fact]
    public async Task EchoWithLogprobsAndNoTokensScoresEveryPromptTokenLikeTheModelInProcess()
    {
        var prompt = "The quick brown fox jumps over the lazy dog.";
        var json = await Post(new { model = TinyModel.Name, prompt, echo = true, logprobs = 3, max_tokens = 0 });
        var choice = json["choices"]![0]!;
        Assert.Equal(prompt, choice["text"]!.GetValue<string>());
        Assert.Equal("length", choice["finish_reason"]!.GetValue<string>());
        var logprobs = choice["logprobs"]!;
        AssertMatches(Bytes(prompt), logprobs);
        Assert.Equal(prompt, string.Concat(logprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>())));
        Assert.Equal(Enumerable.Range(0, prompt.Length), logprobs["text_offset"]!.AsArray().Select(o => o!.GetValue<int>()));
        // Three alternatives plus the chosen token when it is not among them.
        Assert.All(logprobs["top_logprobs"]!.AsArray().Skip(1), top => Assert.InRange(top!.AsObject().Count, 3, 4));
        Assert.Equal(0, json["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(prompt.Length, json["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task AListOfPromptsIsScoredInOneRequestEachItsOwnChoiceInOrder()
    {
        // Two groups sharing prefixes (as a multiple-choice question's choices do) and two loners.
        string[] prompts = ["Question: what is red? Answer: a rose", "Question: what is red? Answer: blood", "Question: what is red? Answer: a fire engine",
            "zebra", "Another prompt entirely, longer than the others by a good margin", "Question: what is blue? Answer: the sky"];
        var json = await Post(new { model = TinyModel.Name, prompt = prompts, echo = true, logprobs = 1, max_tokens = 0 });
        var choices = json["choices"]!.AsArray();
        Assert.Equal(prompts.Length, choices.Count);
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(i, choices[i]!["index"]!.GetValue<int>());
            Assert.Equal(prompts[i], choices[i]!["text"]!.GetValue<string>());
            AssertMatches(Bytes(prompts[i]), choices[i]!["logprobs"]!);
        }
    }

    [Fact]
    public async Task ManyPromptsShareForwardPassesInsteadOfOnePassEach()
    {
        var scheduler = Server.Get<FewShot.Serving.Engine.BatchScheduler>();
        // Twelve choices after one long shared context: the context once, then all twelve endings together.
        var context = "A long shared few-shot context, the same for every choice of the question. Answer:";
        var choices = Enumerable.Range(0, 12).Select(i => $"{context} choice number {i}").ToArray();
        var before = scheduler.ScoringPasses;
        await Post(new { model = TinyModel.Name, prompt = choices, echo = true, logprobs = 0, max_tokens = 0 });
        Assert.Equal(2, scheduler.ScoringPasses - before);
        // Ten unrelated short prompts: one right-padded pass.
        before = scheduler.ScoringPasses;
        await Post(new { model = TinyModel.Name, prompt = Enumerable.Range(0, 10).Select(i => new string((char)('a' + i), 3 + i)).ToArray(), echo = true, logprobs = 0, max_tokens = 0 });
        Assert.Equal(1, scheduler.ScoringPasses - before);
    }

    [Fact]
    public async Task TokenIdPromptsAndListsOfThemAreScoredLikeText()
    {
        var one = Bytes("token ids in, log-probabilities out");
        var json = await Post(new { model = TinyModel.Name, prompt = one, echo = true, logprobs = 0, max_tokens = 0 });
        AssertMatches(one, json["choices"]![0]!["logprobs"]!);

        int[][] many = [Bytes("first list"), Bytes("second, longer list of ids"), [65]];
        json = await Post(new { model = TinyModel.Name, prompt = many, echo = true, logprobs = 0, max_tokens = 0 });
        for (var i = 0; i < many.Length; i++) AssertMatches(many[i], json["choices"]![i]!["logprobs"]!);
    }

    [Fact]
    public async Task GeneratedTokensCarryTheirLogprobsAndBestOfReturnsTheMostLikelyN()
    {
        var prompt = "Once upon a time";
        // ASCII only (bytes >= 128 and end-of-text biased away), so that the text maps back to the sampled ids; the
        // log-probabilities stay the model's own.
        var asciiOnly = Enumerable.Range(128, 129).ToDictionary(i => i.ToString(), _ => -100);
        var json = await Post(new { model = TinyModel.Name, prompt, max_tokens = 6, n = 2, best_of = 4, logprobs = 2, temperature = 1.0, seed = 5, logit_bias = asciiOnly });
        var choices = json["choices"]!.AsArray();
        Assert.Equal(2, choices.Count);
        Assert.Equal(4 * 6, json["usage"]!["completion_tokens"]!.GetValue<int>()); // all four were generated
        var means = new List<double>();
        foreach (var choice in choices)
        {
            var text = choice!["text"]!.GetValue<string>();
            var logprobs = choice["logprobs"]!;
            var tokens = logprobs["token_logprobs"]!.AsArray().Select(t => t!.GetValue<double>()).ToArray();
            Assert.Equal(text, string.Concat(logprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>())));
            Assert.Equal(prompt.Length, logprobs["text_offset"]![0]!.GetValue<int>());
            // Each sampled token's log-probability is the model's, given the prompt and the tokens before it.
            var expected = Reference(Bytes(prompt + text))[(prompt.Length - 1)..];
            for (var t = 0; t < tokens.Length; t++) Assert.Equal(expected[t], tokens[t], 1e-5);
            means.Add(tokens.Average());
        }
        Assert.True(means[0] >= means[1], "best_of orders the chosen sequences by log-probability per token");
    }

    [Fact]
    public async Task LogitBiasOfOneHundredForcesThatToken()
    {
        var json = await Post(new { model = TinyModel.Name, prompt = "abc", max_tokens = 5, logit_bias = new Dictionary<string, int> { ["122"] = 100 } });
        Assert.Equal("zzzzz", json["choices"]![0]!["text"]!.GetValue<string>());
        json = await Post(new { model = TinyModel.Name, prompt = "abc", max_tokens = 5, temperature = 0, logit_bias = new Dictionary<string, int> { ["122"] = -100 } });
        Assert.DoesNotContain('z', json["choices"]![0]!["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task EchoWithGenerationReturnsPromptThenCompletionWithOneLogprobList()
    {
        var prompt = "Hello there";
        var json = await Post(new { model = TinyModel.Name, prompt, max_tokens = 4, echo = true, logprobs = 1, temperature = 0 });
        var choice = json["choices"]![0]!;
        var text = choice["text"]!.GetValue<string>();
        Assert.StartsWith(prompt, text);
        var ids = Bytes(text);
        AssertMatches(ids, choice["logprobs"]!);
    }

    [Fact]
    public async Task ChatLogprobsComeInTheChatShape()
    {
        var json = await Post(new { model = TinyModel.Name, messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 5, logprobs = true, top_logprobs = 2 },
            "v1/chat/completions");
        var content = json["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.InRange(content.Count, 1, 5);
        foreach (var entry in content)
        {
            Assert.True(entry!["logprob"]!.GetValue<double>() <= 0);
            Assert.Equal(2, entry["top_logprobs"]!.AsArray().Count);
            Assert.Equal(Encoding.UTF8.GetBytes(entry["token"]!.GetValue<string>()).Select(b => (int)b), entry["bytes"]!.AsArray().Select(b => b!.GetValue<int>()));
        }
        json = await Post(new { model = TinyModel.Name, messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 2 }, "v1/chat/completions");
        Assert.Null(json["choices"]![0]!["logprobs"]);
    }

    [Fact]
    public async Task StreamedChunksCarryTheLogprobsOfTheirTokens()
    {
        var request = new { model = TinyModel.Name, prompt = "Stream me", max_tokens = 8, logprobs = 1, stream = true, temperature = 0 };
        var response = await Server.Http.PostAsync("v1/completions", new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        var chunks = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..]).Where(d => d != "[DONE]")
            .Select(d => JsonNode.Parse(d)!["choices"]![0]!).ToList();
        var text = new StringBuilder();
        var tokens = new StringBuilder();
        var logprobs = new List<double>();
        foreach (var chunk in chunks.Where(c => c["finish_reason"] is null))
        {
            text.Append(chunk["text"]!.GetValue<string>());
            var lp = chunk["logprobs"]!;
            tokens.Append(string.Concat(lp["tokens"]!.AsArray().Select(t => t!.GetValue<string>())));
            logprobs.AddRange(lp["token_logprobs"]!.AsArray().Select(t => t!.GetValue<double>()));
        }
        Assert.Equal(text.ToString(), tokens.ToString());
        var expected = Reference(Bytes("Stream me" + text))[("Stream me".Length - 1)..];
        Assert.Equal(expected.Length, logprobs.Count);
        for (var t = 0; t < logprobs.Count; t++) Assert.Equal(expected[t], logprobs[t], 1e-5);
    }

    [Fact]
    public async Task StreamedChatChunksCarryTheirTokensInTheChatShape()
    {
        var asciiOnly = Enumerable.Range(128, 129).ToDictionary(i => i.ToString(), _ => -100);
        var request = new { model = TinyModel.Name, messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 8, logprobs = true, top_logprobs = 1,
            stream = true, temperature = 0, logit_bias = asciiOnly };
        var response = await Server.Http.PostAsync("v1/chat/completions", new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        var chunks = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..]).Where(d => d != "[DONE]")
            .Select(d => JsonNode.Parse(d)!["choices"]![0]!).Where(c => c["delta"]!["content"] is not null && c["logprobs"] is JsonObject).ToList();
        Assert.NotEmpty(chunks);
        var content = string.Concat(chunks.Select(c => c["delta"]!["content"]!.GetValue<string>()));
        var tokens = string.Concat(chunks.SelectMany(c => c["logprobs"]!["content"]!.AsArray()).Select(t => t!["token"]!.GetValue<string>()));
        Assert.Equal(content, tokens.TrimStart()); // the reply's leading space is trimmed from the text, not from the tokens
        Assert.All(chunks.SelectMany(c => c["logprobs"]!["content"]!.AsArray()), t => Assert.Single(t!["top_logprobs"]!.AsArray()));
    }

    [Fact]
    public async Task AModelVocabularyPaddedBeyondItsTokenizerNamesTheExtraIdsInsteadOfFailing()
    {
        var folder = Path.Combine(Directory.CreateTempSubdirectory("fewshot-padded-").FullName, "padded");
        manual_seed(3);
        using (var model = new FewShot.Model.Gpt(new FewShot.Model.GptConfig { VocabSize = 320, ContextLength = 128, Layers = 1, Heads = 2, Embedding = 32 }))
            ModelFolder.Save(model, new FewShot.Model.Tokenization.ByteTokenizer(), folder);
        await using var padded = await TestServer.StartAsync(new() { ["Serving:Model"] = folder });
        var json = JsonSerializer.Serialize(new { model = "padded", prompt = "a prompt long enough to see many alternatives", echo = true, logprobs = 5, max_tokens = 0 });
        var response = await padded.Http.PostAsync("v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var keys = JsonNode.Parse(body)!["choices"]![0]!["logprobs"]!["top_logprobs"]!.AsArray().Skip(1).SelectMany(t => t!.AsObject().Select(p => p.Key)).ToList();
        Assert.Contains(keys, k => System.Text.RegularExpressions.Regex.IsMatch(k, @"^<\|(2[6-9]\d|3[01]\d)\|>$"));
        // Ids the tokenizer lacks are not token ids a client may send.
        json = JsonSerializer.Serialize(new { model = "padded", prompt = new[] { 97, 300 }, echo = true, logprobs = 0, max_tokens = 0 });
        response = await padded.Http.PostAsync("v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task ScoringOnlyPromptsMayFillTheContextPlusTheTokenThatIsNeverFed()
    {
        var ids = Enumerable.Range(0, TinyModel.Config.ContextLength + 1).Select(i => 97 + i % 26).ToArray();
        var json = await Post(new { model = TinyModel.Name, prompt = ids, echo = true, logprobs = 0, max_tokens = 0 });
        Assert.Equal(ids.Length, json["choices"]![0]!["logprobs"]!["token_logprobs"]!.AsArray().Count);
        var tooLong = await Server.Http.PostAsync("v1/completions", new StringContent(JsonSerializer.Serialize(
            new { model = TinyModel.Name, prompt = ids.Append(97).ToArray(), echo = true, logprobs = 0, max_tokens = 0 }), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
    }
}
