using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using FewShot.Evaluation.Api;
using FewShot.Evaluation.Scoring;
using FewShot.Model.Tokenization;

namespace FewShot.Cli.Commands.Evaluation;

/// <summary>
/// The options of <c>fewshot eval --api</c>: a model behind an OpenAI-compatible server in place of a model folder.
/// The key comes only from the environment variable named by --api-key-env and goes only into the Authorization
/// header; results record the model name and base URL.
/// </summary>
sealed class ApiModelOptions
{
    public readonly Option<string?> Url = new("--api") { Description = "Base URL of an OpenAI-compatible server to evaluate instead of --model, e.g. http://127.0.0.1:8000/v1 (requests go to BASE/completions)" };
    public readonly Option<string?> Model = new("--api-model") { Description = "With --api: the model name the server serves" };
    public readonly Option<string> KeyVariable = new("--api-key-env") { Description = "With --api: the environment variable holding the API key (none set: no key is sent)", DefaultValueFactory = _ => "OPENAI_API_KEY" };
    public readonly Option<string?> Tokenizer = new("--tokenizer") { Description = "With --api: the served model's tokenizer: r50k_base (GPT-2/GPT-3), bytes, or a folder with tokenizer.json" };
    public readonly Option<int?> Context = new("--api-context") { Description = "With --api: the model's context length (default: what the server's /models says, else 2048, GPT-3's)" };
    public readonly Option<int> Concurrency = new("--api-concurrency") { Description = "With --api: requests in flight at once", DefaultValueFactory = _ => 4 };
    public readonly Option<int> PromptsPerRequest = new("--api-batch") { Description = "With --api: prompts per request", DefaultValueFactory = _ => 32 };
    public readonly Option<int> ScoringMaxTokens = new("--api-score-max-tokens") { Description = "With --api: max_tokens sent with echo to score prompts: 0 (GPT-3's API, FewShot) or 1 (servers that refuse 0, such as vLLM)", DefaultValueFactory = _ => 0 };
    public readonly Option<long> Parameters = new("--api-parameters") { Description = "With --api: the model's parameter count, recorded for size plots (unknown: 0)", DefaultValueFactory = _ => 0 };

    public IEnumerable<Option> All => [Url, Model, KeyVariable, Tokenizer, Context, Concurrency, PromptsPerRequest, ScoringMaxTokens, Parameters];

    /// <summary>Checks the options before anything runs; one line naming the option when they do not fit.</summary>
    public void Validate(ParseResult parse)
    {
        if (parse.GetValue(Model) is null) throw new ArgumentException("--api needs --api-model (the model name the server serves)");
        if (parse.GetValue(Tokenizer) is null) throw new ArgumentException("--api needs --tokenizer (the served model's tokenizer: r50k_base, bytes, or a folder with tokenizer.json)");
        if (!Uri.TryCreate(parse.GetValue(Url), UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--api: '{parse.GetValue(Url)}' is not an http(s) URL");
        if (parse.GetValue(Context) is < 2) throw new ArgumentException("--api-context must be at least 2");
        if (parse.GetValue(Concurrency) < 1) throw new ArgumentException("--api-concurrency must be at least 1");
        if (parse.GetValue(PromptsPerRequest) < 1) throw new ArgumentException("--api-batch must be at least 1");
        if (parse.GetValue(ScoringMaxTokens) is not (0 or 1)) throw new ArgumentException("--api-score-max-tokens must be 0 or 1");
    }

    /// <summary>The served model as the harness sees it, and the client to dispose after the run.</summary>
    public async Task<(LanguageModel Model, ApiClient Client)> CreateAsync(ParseResult parse, ResultCache cache, CancellationToken cancel)
    {
        var name = parse.GetValue(Tokenizer)!;
        var tokenizer = Directory.Exists(name) ? TokenizerStore.Load(name) : TokenizerStore.FromName(name);
        var key = Environment.GetEnvironmentVariable(parse.GetValue(KeyVariable)!);
        var endpoint = new ApiEndpoint(new Uri(parse.GetValue(Url)!), parse.GetValue(Model)!, key);
        var client = new ApiClient(endpoint, parse.GetValue(Concurrency));
        // A rolling window sends context + 1 tokens (its last one is only predicted); FewShot takes that with max_tokens
        // 0, while a server asked for one generated token needs room for both: the harness then uses 2 tokens less.
        var scoringTokens = parse.GetValue(ScoringMaxTokens);
        var context = parse.GetValue(Context) ?? (await client.ContextLengthAsync(cancel) is { } served ? served - 2 * scoringTokens : 2048);
        var scorer = new ApiScorer(client, tokenizer, context, parse.GetValue(Parameters), parse.GetValue(PromptsPerRequest), parse.GetValue(ScoringMaxTokens));
        // Cached scores belong to this model at this address with this tokenizer.
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{endpoint.Display}\n{endpoint.Model}\n{tokenizer.Name}")))[..16];
        return (new LanguageModel(scorer, tokenizer, "api-" + hash) { Name = endpoint.Model, Cache = cache }, client);
    }
}
