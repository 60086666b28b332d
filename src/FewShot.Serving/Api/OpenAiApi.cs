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
        group.MapPost("/completions", CreateCompletion);
        group.MapPost("/chat/completions", CreateChatCompletion);
        return group;
    }

    public sealed record ModelCard(string id, string @object, long created, string owned_by);
    public sealed record ModelList(string @object, ModelCard[] data);

    // The in-process model (none for a gateway only), then the upstream models (see Upstreams/) under their public names; the page's model first.
    static ModelCard[] Cards(ServedModel? served, UpstreamRouter upstreams, string? pageModel = null)
    {
        var created = (served?.LoadedAt ?? upstreams.StartedAt).ToUnixTimeSeconds();
        var local = served is null ? [] : new[] { new ModelCard(served.Name, "model", created, "fewshot") };
        return [.. local.Concat(upstreams.Models.Where(m => m.Name != served?.Name).Select(m => new ModelCard(m.Name, "model", created, m.Upstream.Name)))
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
