using FewShot.Serving.Observability;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FewShot.Serving.Upstreams;

/// <summary>Registers the gateway to upstream model servers: settings read and checked now (a bad one stops the start), router, relay, metrics.</summary>
public static class UpstreamHosting
{
    public static IServiceCollection AddFewShotUpstreams(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = UpstreamSettingsReader.Read(configuration);
        services.AddSingleton(sp => new UpstreamRouter(settings, TimeProvider.System, sp.GetRequiredService<ILogger<UpstreamRouter>>()));
        services.AddHostedService(sp => sp.GetRequiredService<UpstreamRouter>());
        services.AddSingleton<UpstreamRelay>();
        services.AddSingleton<IMetricsSource, UpstreamMetrics>();
        return services;
    }
}
