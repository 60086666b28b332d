using FewShot.Access.Http;
using FewShot.Access.Rotation;
using FewShot.Access.Storage;
using FewShot.Serving.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FewShot.Access;

/// <summary>How `fewshot serve` turns access control on: AddFewShotAccess, UseFewShotAccess, MapAdminApi (see docs/security.md).</summary>
public static class AccessHosting
{
    /// <summary>
    /// Binds <see cref="AccessOptions"/> from the "Access" section, then <paramref name="configure"/> (what only code can
    /// set: callbacks, the clock), validated when the host starts. Registers the store (<see cref="AccessOptions.Store"/>, else
    /// SQLite at <see cref="AccessOptions.DatabasePath"/>, unless an <see cref="IAccessStore"/> is already registered), the access
    /// runtime, the start-up and rotation services, and replaces the server's <see cref="IGenerationGate"/>.
    /// </summary>
    public static IServiceCollection AddFewShotAccess(this IServiceCollection services, Action<AccessOptions>? configure = null)
    {
        services.AddOptions<AccessOptions>().BindConfiguration(AccessOptions.Section)
            .Configure(o => configure?.Invoke(o))
            .ValidateDataAnnotations()
            .Validate(o => o.LeaseTime >= TimeSpan.FromSeconds(1), "Access:LeaseTime must be at least one second")
            .Validate(o => o.LockoutFirst > TimeSpan.Zero && o.LockoutMax >= o.LockoutFirst && o.LockoutWindow > TimeSpan.Zero,
                "Access:LockoutFirst, LockoutMax and LockoutWindow must be positive, LockoutMax at least LockoutFirst")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AccessOptions>, LocationValidation>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<AccessOptions>>().Value);
        services.TryAddSingleton<IAccessStore>(sp => StoreLocation.From(sp.GetRequiredService<AccessOptions>()).Open());
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<AccessOptions>();
            // A Redis that cannot run the admission scripts is refused before the store is opened (nothing written).
            if (Limits.LimitsLocation.Parse(options.Limits) is { Redis: not null } redis) Limits.RedisAdmission.CheckScripting(redis);
            return new AccessRuntime(options, sp.GetRequiredService<IAccessStore>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("FewShot.Access"));
        });
        services.AddSingleton(sp => sp.GetRequiredService<AccessRuntime>().Metrics);
        services.AddSingleton<FewShot.Serving.Observability.IMetricsSource>(sp => sp.GetRequiredService<AccessMetrics>());
        services.Replace(ServiceDescriptor.Singleton<IGenerationGate, AccessGate>());
        services.AddHostedService<AccessBootstrap>();
        services.AddSingleton<PublicKeyRotationService>();
        services.AddHostedService(sp => sp.GetRequiredService<PublicKeyRotationService>());
        return services;
    }

    /// <summary>A malformed Access:Store or Access:Limits fails at start with its own one-line reason, before anything is opened or written.</summary>
    sealed class LocationValidation : IValidateOptions<AccessOptions>
    {
        public ValidateOptionsResult Validate(string? name, AccessOptions options)
        {
            try
            {
                StoreLocation.From(options);
                Limits.LimitsLocation.Parse(options.Limits);
                return ValidateOptionsResult.Success;
            }
            catch (FormatException e) { return ValidateOptionsResult.Fail(e.Message); }
        }
    }

    /// <summary>The firewall and key check; call early, before static files and the API routes.</summary>
    public static IApplicationBuilder UseFewShotAccess(this IApplicationBuilder app) => app.UseMiddleware<AccessMiddleware>();
}
