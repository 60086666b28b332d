using System.Text.Json.Nodes;
using FewShot.Serving.Chat;
using FewShot.Serving.Engine;
using FewShot.Serving.Hosting;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace FewShot.Serving.Api;

/// <summary>The OpenAI-compatible API under /v1: models, completions and chat completions.</summary>
public static class OpenAiApi
{
    public static RouteGroupBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1");
        group.MapGet("/models", ListModels);
        group.MapGet("/models/{id}", GetModel);
        group.MapPost("/completions", CreateCompletion);
        group.MapPost("/chat/completions", CreateChatCompletion);
        return group;
    }

    /// <summary>A model; max_model_len (vLLM's name for it) tells scoring clients how long a prompt may be.</summary>
    public sealed record ModelCard(string id, string @object, long created, string owned_by, int max_model_len);
    public sealed record ModelList(string @object, ModelCard[] data);

    static ModelCard Card(ServedModel served) => new(served.Name, "model", served.LoadedAt.ToUnixTimeSeconds(), "fewshot", served.ContextLength);

    static Ok<ModelList> ListModels(ServedModel served) => TypedResults.Ok(new ModelList("list", [Card(served)]));

    static Results<Ok<ModelCard>, ApiErrorResult> GetModel(string id, ServedModel served) =>
        id == served.Name ? TypedResults.Ok(Card(served)) : ApiException.UnknownModel(id).ToResult();

    static Task<IResult> CreateCompletion(HttpContext http, FewShotChatClient client, ServedModel served, IGenerationGate gate, IOptions<ServingOptions> options) =>
        Handle(http, client, served, gate, options.Value, chat: false);

    static Task<IResult> CreateChatCompletion(HttpContext http, FewShotChatClient client, ServedModel served, IGenerationGate gate, IOptions<ServingOptions> options) =>
        Handle(http, client, served, gate, options.Value, chat: true);

    // Parse -> tokenize -> admit (gate) -> queue -> stream or collect -> charge the lease.
    static async Task<IResult> Handle(HttpContext http, FewShotChatClient client, ServedModel served, IGenerationGate gate, ServingOptions options, bool chat)
    {
        try
        {
            var body = await RequestBody.ReadObjectAsync(http.Request, options.MaxRequestBodyBytes, http.RequestAborted);
            // Token ids in prompts and logit_bias must be ones both the model and its tokenizer know.
            var vocab = Math.Min(served.Model.Config.VocabSize, served.Tokenizer.VocabSize);
            var parameters = OpenAiRequests.Parameters(body, options, served.ContextLength, vocab, chat);
            var messages = chat ? OpenAiRequests.Messages(body) : null;
            var inputs = chat ? null : OpenAiRequests.Prompts(body, vocab);
            if (parameters.Model != served.Name) throw ApiException.UnknownModel(parameters.Model);

            List<ApiPrompt> prompts;
            try
            {
                if (chat) prompts = [new ApiPrompt(client.PrepareChat(messages!, parameters.Options), "")];
                else
                {
                    var scoringOnly = parameters.MaxTokens == 0;
                    prompts = [.. inputs!.Select(input => input.Ids is { } ids
                        ? new ApiPrompt(client.PrepareCompletion(ids, parameters.Options, options.DefaultMaxTokens, scoringOnly), served.Tokenizer.Decode(ids))
                        : new ApiPrompt(client.PrepareCompletion(input.Text!, parameters.Options, options.DefaultMaxTokens, scoringOnly), input.Text!))];
                }
            }
            catch (ContextLengthExceededException e) { throw ApiException.Invalid(e.Message, chat ? "messages" : "prompt", "context_length_exceeded"); }
            catch (ArgumentException e) { throw ApiException.Invalid(e.Message, null, "invalid_value"); }
            // A model folder without a text tokenizer (kind "ids") takes token-id prompts only.
            catch (NotSupportedException e) { throw ApiException.Invalid(e.Message, chat ? "messages" : "prompt", "text_not_supported"); }

            var first = prompts[0].Prepared;
            var info = new GenerationRequestInfo(served.Name, first.Mode, prompts.Sum(p => p.Prepared.PromptIds.Length), first.Sampling.MaxNewTokens, parameters.BestOf);
            var decision = await gate.AdmitAsync(http, info, http.RequestAborted);
            if (decision is GateDecision.Rejected rejected)
                return rejected.Error.ToResult();
            var lease = ((GateDecision.Admitted)decision).Lease;
            return new GenerationResult(new ApiGeneration(served.Name, chat, prompts, parameters, client, served.Tokenizer, lease, options.RetryAfterSeconds));
        }
        catch (ApiException e) { return e.ToResult(); }
    }

    /// <summary>Runs the generation when ASP.NET executes the result, so headers are written only once jobs are queued.</summary>
    sealed class GenerationResult(ApiGeneration generation) : IResult
    {
        public Task ExecuteAsync(HttpContext http) => generation.RunAsync(http);
    }
}
