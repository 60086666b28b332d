using System.Text.Json.Nodes;
using FewShot.Serving.Chat;
using FewShot.Serving.Engine;
using FewShot.Serving.Hosting;
using FewShot.Serving.Pipeline;
using FewShot.Serving.Upstreams;
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

    public sealed record ModelCard(string id, string @object, long created, string owned_by);
    public sealed record ModelList(string @object, ModelCard[] data);

    static ModelCard Card(ServedModel served) => new(served.Name, "model", served.LoadedAt.ToUnixTimeSeconds(), "fewshot");

    // Upstream models (see Upstreams/) are listed after the in-process one, under their public names; the page's model comes first.
    static ModelCard[] Cards(ServedModel served, UpstreamRouter upstreams, string? pageModel = null) =>
        [.. new[] { Card(served) }.Concat(upstreams.Models.Where(m => m.Name != served.Name)
            .Select(m => new ModelCard(m.Name, "model", served.LoadedAt.ToUnixTimeSeconds(), m.Upstream.Name))).OrderBy(c => c.id == pageModel ? 0 : 1)];

    static Ok<ModelList> ListModels(ServedModel served, UpstreamRouter upstreams, IOptions<ServingOptions> options) =>
        TypedResults.Ok(new ModelList("list", Cards(served, upstreams, options.Value.PageModel)));

    static Results<Ok<ModelCard>, ApiErrorResult> GetModel(string id, ServedModel served, UpstreamRouter upstreams) =>
        Cards(served, upstreams).FirstOrDefault(c => c.id == id) is { } card ? TypedResults.Ok(card) : ApiException.UnknownModel(id).ToResult();

    static Task<IResult> CreateCompletion(HttpContext http, FewShotChatClient client, ServedModel served, IGenerationGate gate, IOptions<ServingOptions> options,
        UpstreamRelay upstreams) =>
        Handle(http, client, served, gate, options.Value, upstreams, chat: false);

    static Task<IResult> CreateChatCompletion(HttpContext http, FewShotChatClient client, ServedModel served, IGenerationGate gate, IOptions<ServingOptions> options,
        UpstreamRelay upstreams) =>
        Handle(http, client, served, gate, options.Value, upstreams, chat: true);

    // Parse -> tokenize -> admit (gate) -> queue -> stream or collect -> charge the lease. Upstream models go to the relay after parsing.
    static async Task<IResult> Handle(HttpContext http, FewShotChatClient client, ServedModel served, IGenerationGate gate, ServingOptions options,
        UpstreamRelay upstreams, bool chat)
    {
        try
        {
            var body = await RequestBody.ReadObjectAsync(http.Request, options.MaxRequestBodyBytes, http.RequestAborted);
            if (RequestBody.OptionalString(body, "model") is { } requested && requested != served.Name && upstreams.Serves(requested))
            {
                await upstreams.HandleAsync(http, body, requested, chat);
                return Results.Empty;
            }
            var parameters = OpenAiRequests.Parameters(body, options, served.ContextLength);
            var messages = chat ? OpenAiRequests.Messages(body) : null;
            var prompt = chat ? null : OpenAiRequests.Prompt(body);
            if (parameters.Model != served.Name) throw ApiException.UnknownModel(parameters.Model);

            PreparedGeneration prepared;
            try
            {
                prepared = chat ? client.PrepareChat(messages!, parameters.Options) : client.PrepareCompletion(prompt!, parameters.Options, options.DefaultMaxTokens);
            }
            catch (ContextLengthExceededException e) { throw ApiException.Invalid(e.Message, chat ? "messages" : "prompt", "context_length_exceeded"); }
            catch (ArgumentException e) { throw ApiException.Invalid(e.Message, null, "invalid_value"); }

            var info = new GenerationRequestInfo(served.Name, prepared.Mode, prepared.PromptIds.Length, prepared.Sampling.MaxNewTokens, parameters.Choices);
            var decision = await gate.AdmitAsync(http, info, http.RequestAborted);
            if (decision is GateDecision.Rejected rejected)
                return rejected.Error.ToResult();
            var lease = ((GateDecision.Admitted)decision).Lease;
            return new GenerationResult(new ApiGeneration(served.Name, chat, prepared, parameters, client, lease, options.RetryAfterSeconds));
        }
        catch (ApiException e) { return e.ToResult(); }
    }

    /// <summary>Runs the generation when ASP.NET executes the result, so headers are written only once jobs are queued.</summary>
    sealed class GenerationResult(ApiGeneration generation) : IResult
    {
        public Task ExecuteAsync(HttpContext http) => generation.RunAsync(http);
    }
}
