using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace FewShot.Serving.Tests;

/// <summary>
/// Malformed requests of many kinds - broken JSON, lone surrogates, invalid UTF-8, wrong types, absurd numbers, bad
/// prompts, logprobs, best_of and logit_bias - each get a 4xx in OpenAI's error shape naming the field (never a 500),
/// and the server still answers a good request afterwards.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class FuzzTests(ServerFixture fixture)
{
    TestServer Server => fixture.Server;

    const string Chat = "v1/chat/completions";
    const string Text = "v1/completions";
    const string Messages = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";

    // (endpoint, raw body, expected status, expected param: null for none)
    public static TheoryData<string, string, int, string?> Cases() => new()
    {
        { Chat, "", 400, null },
        { Chat, "{", 400, null },
        { Chat, "null", 400, null },
        { Chat, "\"a string\"", 400, null },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ",}", 400, null },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + "} trailing", 400, null },
        { Chat, new string('[', 200) + new string(']', 200), 400, null },
        { Chat, "{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"\\ud800\"}]}", 400, "messages[0].content" },
        { Chat, "{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": \"a\\udc00b\"}]}", 400, "messages[0].content" },
        { Chat, "{\"model\": \"\\ud83d\", " + Messages + "}", 400, "model" },
        { Chat, "{\"model\": \"tiny-bytes\", \"\\ud800\": 1, " + Messages + "}", 400, null },
        { Chat, "{\"model\": \"tiny-bytes\", \"model\": \"tiny-bytes\", " + Messages + "}", 400, null },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"temperature\": 1e999}", 400, "temperature" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"temperature\": -1e999}", 400, "temperature" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"max_tokens\": 1e30}", 400, "max_tokens" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"max_tokens\": 99999999999999999999999}", 400, "max_tokens" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"max_tokens\": 2.5}", 400, "max_tokens" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"max_tokens\": 0}", 400, "max_tokens" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"n\": -3}", 400, "n" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"top_p\": \"0.5\"}", 400, "top_p" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"seed\": 1e300}", 400, "seed" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"stop\": [1, 2]}", 400, "stop[0]" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", 400, "stop" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"stream\": true, \"stream_options\": 3}", 400, "stream_options" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"logprobs\": 5}", 400, "logprobs" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"top_logprobs\": 3}", 400, "top_logprobs" },
        { Chat, "{\"model\": \"tiny-bytes\", " + Messages + ", \"logprobs\": true, \"top_logprobs\": 21}", 400, "top_logprobs" },
        { Chat, "{\"model\": \"tiny-bytes\", \"messages\": \"hi\"}", 400, "messages" },
        { Chat, "{\"model\": \"tiny-bytes\", \"messages\": [\"hi\"]}", 400, "messages[0]" },
        { Chat, "{\"model\": \"tiny-bytes\", \"messages\": [{\"content\": \"hi\"}]}", 400, "messages[0].role" },
        { Chat, "{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages[0].content" },
        { Chat, "{\"model\": \"tiny-bytes\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", 400, "messages[0].content[0]" },
        { Chat, "{\"model\": [\"tiny-bytes\"], " + Messages + "}", 400, "model" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": []}", 400, "prompt" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [[]]}", 400, "prompt[0]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [1, \"a\"]}", 400, "prompt[1]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [\"a\", 1]}", 400, "prompt[1]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [1, 99999]}", 400, "prompt[1]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [-1]}", 400, "prompt[0]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [1.5]}", 400, "prompt[0]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [[1, 2], [3, 1e400]]}", 400, "prompt[1][1]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": {\"text\": \"a\"}}", 400, "prompt" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"\\udfff\"}", 400, "prompt" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": [\"ok\", \"\\ud800x\"]}", 400, "prompt[1]" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logprobs\": 6}", 400, "logprobs" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logprobs\": true}", 400, "logprobs" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"echo\": \"yes\"}", 400, "echo" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"max_tokens\": -1}", 400, "max_tokens" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"n\": 3, \"best_of\": 2}", 400, "best_of" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"best_of\": 3, \"stream\": true}", 400, "best_of" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"best_of\": 1000}", 400, "best_of" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logit_bias\": [1]}", 400, "logit_bias" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logit_bias\": {\"abc\": 1}}", 400, "logit_bias" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logit_bias\": {\"-5\": 1}}", 400, "logit_bias" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logit_bias\": {\"300\": 1}}", 400, "logit_bias" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logit_bias\": {\"5\": 101}}", 400, "logit_bias" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logit_bias\": {\"5\": \"up\"}}", 400, "logit_bias.5" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"logit_bias\": {\"5\": 1e999}}", 400, "logit_bias.5" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"max_tokens\": 5000}", 400, "max_tokens" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"" + new string('x', 1020) + "\", \"max_tokens\": 10}", 400, "prompt" },
        { Text, "{\"model\": \"tiny-bytes\", \"prompt\": \"a\", \"nested\": " + new string('[', 70) + new string(']', 70) + "}", 400, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task MalformedRequestsGetA400NamingTheFieldAndTheServerKeepsAnswering(string path, string body, int status, string? param)
    {
        var response = await Server.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{(int)response.StatusCode} for {body[..Math.Min(body.Length, 200)]}: {text}");
        using var json = JsonDocument.Parse(text);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(param, error.GetProperty("param").GetString());
        await AssertStillServing();
    }

    [Theory]
    [InlineData(new byte[] { 0xC3 })]             // a lone lead byte
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })] // a surrogate encoded in UTF-8
    [InlineData(new byte[] { 0xFF, 0xFE })]       // never valid
    [InlineData(new byte[] { 0xC0, 0xAF })]       // overlong
    public async Task InvalidUtf8InsideAStringIs400(byte[] bad)
    {
        var before = Encoding.UTF8.GetBytes("{\"model\": \"tiny-bytes\", \"prompt\": \"a");
        var after = Encoding.UTF8.GetBytes("b\"}");
        var content = new ByteArrayContent([.. before, .. bad, .. after]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var response = await Server.Http.PostAsync(Text, content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await AssertStillServing();
    }

    async Task AssertStillServing()
    {
        var response = await Server.Http.PostAsync(Text, new StringContent("{\"model\": \"tiny-bytes\", \"prompt\": \"ok\", \"max_tokens\": 1}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
