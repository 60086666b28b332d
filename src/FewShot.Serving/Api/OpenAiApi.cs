using System.Text.Json.Nodes;
using FewShot.Serving.Chat;
using FewShot.Serving.Engine;
using FewShot.Serving.Hosting;
using FewShot.Serving.Pipeline;
using FewShot.Serving.Upstreams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
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
        group.MapPost("/completions", CreateCompletion).WithMetadata(AdmittedThroughGate.Instance);
        group.MapPost("/chat/completions", CreateChatCompletion).WithMetadata(AdmittedThroughGate.Instance);
        return group;
    }

    /// <summary>A model; max_model_len (vLLM's name for it) tells scoring clients how long a prompt may be (null: an upstream's, not known here).</summary>
    public sealed record ModelCard(string id, string @object, long created, string owned_by, int? max_model_len);
    public sealed record ModelList(string @object, ModelCard[] data);

    // The in-process model (none for a gateway only), then the upstream models (see Upstreams/) under their public names; the page's model first.
    static ModelCard[] Cards(ServedModel? served, UpstreamRouter upstreams, string? pageModel = null)
    {
        var created = (served?.LoadedAt ?? upstreams.StartedAt).ToUnixTimeSeconds();
        var local = served is null ? [] : new[] { new ModelCard(served.Name, "model", created, "fewshot", served.ContextLength) };
        return [.. local.Concat(upstreams.Models.Where(m => m.Name != served?.Name).Select(m => new ModelCard(m.Name, "model", created, m.Upstream.Name, null)))
            .OrderBy(c => c.id == pageModel ? 0 : 1)];
    }

    static Ok<ModelList> ListModels([FromServices] ServedModel? served, UpstreamRouter upstreams, IOptions<ServingOptions> options) =>
        TypedResults.Ok(new ModelList("list", Cards(served, upstreams, options.Value.PageModel)));

    static Results<Ok<ModelCard>, ApiErrorResult> GetModel(string id, [FromServices] ServedModel? served, UpstreamRouter upstreams) =>
        Cards(served, upstreams).FirstOrDefault(c => c.id == id) is { } card ? TypedResults.Ok(card) : ApiException.UnknownModel(id).ToResult();

    static Task<IResult> CreateCompletion(HttpContext http, [FromServices] FewShotChatClient? client, [FromServices] ServedModel? served, IGenerationGate gate,
        IOptions<ServingOptions> options, UpstreamRelay upstreams) =>
        Handle(http, client, served, gate, options.Value, upstreams, chat: false);

    static Task<IResult> CreateChatCompletion(HttpContext http, [FromServices] FewShotChatClient? client, [FromServices] ServedModel? served, IGenerationGate gate,
        IOptions<ServingOptions> options, UpstreamRelay upstreams) =>
        Handle(http, client, served, gate, options.Value, upstreams, chat: true);

    // Parse -> tokenize -> admit (gate) -> queue -> stream or collect -> charge the lease. Upstream models go to the relay after parsing.
    static async Task<IResult> Handle(HttpContext http, FewShotChatClient? client, ServedModel? served, IGenerationGate gate, ServingOptions options,
        UpstreamRelay upstreams, bool chat)
    {
        try
        {
            var body = await RequestBody.ReadObjectAsync(http.Request, options.MaxRequestBodyBytes, http.RequestAborted);
            var requested = RequestBody.RequiredString(body, "model");
            if (requested != served?.Name && upstreams.Serves(requested))
            {
                await upstreams.HandleAsync(http, body, requested, chat);
                return Results.Empty;
            }
            if (served is null || client is null) throw ApiException.UnknownModel(requested);
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
