using FewShot.Access.Http;
using FewShot.Access.Rotation;
using FewShot.Access.Storage;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace FewShot.Access;

/// <summary>How `fewshot serve` turns access control on: AddFewShotAccess, UseFewShotAccess, MapAdminApi (see docs/security.md).</summary>
public static class AccessHosting
{
    /// <summary>
    /// Registers the store (SQLite at <see cref="AccessOptions.DatabasePath"/> unless an <see cref="IAccessStore"/> is already
    /// registered), the access runtime, the start-up and rotation services, and replaces the server's <see cref="IGenerationGate"/>.
    /// </summary>
    public static IServiceCollection AddFewShotAccess(this IServiceCollection services, AccessOptions options)
    {
        services.AddSingleton(options);
        services.TryAddSingleton<IAccessStore>(_ => new SqliteAccessStore(options.DatabasePath));
        services.AddSingleton(sp => new AccessRuntime(options, sp.GetRequiredService<IAccessStore>()));
        services.AddSingleton(sp => sp.GetRequiredService<AccessRuntime>().Metrics);
        services.AddSingleton<FewShot.Serving.Observability.IMetricsSource>(sp => sp.GetRequiredService<AccessMetrics>());
        services.Replace(ServiceDescriptor.Singleton<IGenerationGate, AccessGate>());
        services.AddHostedService<AccessBootstrap>();
        services.AddSingleton<PublicKeyRotationService>();
        services.AddHostedService(sp => sp.GetRequiredService<PublicKeyRotationService>());
        return services;
    }

    /// <summary>The firewall and key check; call early, before static files and the API routes.</summary>
    public static IApplicationBuilder UseFewShotAccess(this IApplicationBuilder app) => app.UseMiddleware<AccessMiddleware>();
}
