using FewShot.Model.Storage;
using FewShot.Serving.Api;
using FewShot.Serving.Chat;
using FewShot.Serving.Engine;
using FewShot.Serving.Observability;
using FewShot.Serving.Pipeline;
using FewShot.Serving.Upstreams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FewShot.Serving.Hosting;

/// <summary>Composes the chat server: services in <see cref="AddFewShotServing"/>, endpoints in <see cref="MapFewShotServing"/>.</summary>
public static class ServingHost
{
    /// <summary>
    /// A ready-to-run server. Settings come from <paramref name="settingsFile"/> (optional appsettings-style JSON), then
    /// FEWSHOT_-prefixed environment variables, then <paramref name="overrides"/> (command-line flags), under "Serving:".
    /// </summary>
    /// <param name="guard">Adds middleware in front of every endpoint and extra endpoints (access control); null for an open server.</param>
    public static WebApplication Build(IDictionary<string, string?> overrides, string? settingsFile = null, string[]? urls = null,
        Action<WebApplicationBuilder>? customize = null, Action<WebApplication>? guard = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        if (settingsFile is not null)
        {
            if (!File.Exists(settingsFile)) throw new FileNotFoundException($"{settingsFile}: settings file not found");
            builder.Configuration.AddJsonFile(Path.GetFullPath(settingsFile), optional: false);
        }
        builder.Configuration.AddEnvironmentVariables("FEWSHOT_");
        builder.Configuration.AddInMemoryCollection(overrides);
        if (urls is { Length: > 0 }) builder.WebHost.UseUrls(urls);
        // One structured line per request comes from RequestLogging; ASP.NET's own per-request lines would repeat it.
        // For JSON logs set Logging:Console:FormatterName=json (e.g. FEWSHOT_Logging__Console__FormatterName=json).
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Upstream model servers and no --model: a gateway only, with no model of its own to load.
        var inProcessModel = !string.IsNullOrEmpty(builder.Configuration["Serving:Model"]) || !builder.Configuration.GetSection(UpstreamSettingsReader.Section).Exists();
        builder.Services.AddFewShotServing(inProcessModel);
        builder.Services.AddFewShotUpstreams(builder.Configuration);
        customize?.Invoke(builder);

        var app = builder.Build();
        app.MapFewShotServing(guard);
        return app;
    }

    /// <summary>Where a started server listens (its first address; the real port when it was asked for port 0), ending in "/".</summary>
    public static Uri Address(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");

    /// <param name="inProcessModel">False for a gateway only (upstream models, no model folder): nothing is loaded or decoded here.</param>
    public static IServiceCollection AddFewShotServing(this IServiceCollection services, bool inProcessModel = true)
    {
        services.AddOptions<ServingOptions>().BindConfiguration(ServingOptions.Section)
            .ValidateDataAnnotations()
            .Validate(o => !inProcessModel || o.Model.Length > 0, "Serving:Model (--model) is required (or upstream model servers: --upstream)")
            .Validate(o => o.Model.Length == 0 || Directory.Exists(o.Model), "Serving:Model (--model): the model folder does not exist")
            .Validate(o => o.ModesFolder is null || Directory.Exists(o.ModesFolder), "Serving:ModesFolder (--modes): the folder does not exist")
            .ValidateOnStart();
        services.AddSingleton<ServingMetrics>();
        services.AddSingleton<ChatModes>();
        services.TryAddSingleton<IGenerationGate, OpenGate>();
        if (!inProcessModel) return services;
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ServingOptions>>().Value;
            var name = options.ModelName ?? Path.GetFileName(Path.GetFullPath(options.Model).TrimEnd(Path.DirectorySeparatorChar));
            return new ServedModel(ModelFolder.Load(options.Model), name, options.Weights, options.Threads);
        });
        services.AddSingleton<BatchScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<BatchScheduler>());
        services.AddSingleton<FewShotChatClient>();
        services.AddSingleton<IChatClient>(sp => sp.GetRequiredService<FewShotChatClient>());
        return services;
    }

    public static WebApplication MapFewShotServing(this WebApplication app, Action<WebApplication>? guard = null)
    {
        app.UseRequestLogging();
        guard?.Invoke(app);
        app.MapOpenAiApi();
        app.MapChatPage();
        app.MapHealth();
        app.MapMetrics();
        return app;
    }
}
