using FewShot.Serving.Chat;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace FewShot.Serving.Api;

/// <summary>The chat page at / and its assets, compiled into this assembly (no CDN, works offline), and the mode list it shows.</summary>
public static class ChatPage
{
    static readonly Dictionary<string, string> ContentTypes = new()
    {
        [".html"] = "text/html; charset=utf-8", [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8", [".svg"] = "image/svg+xml",
    };

    public sealed record ModeInfo(string id, Dictionary<string, string> title, int max_tokens);

    public static RouteGroupBuilder MapChatPage(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("");
        group.MapGet("/", () => Asset("index.html"));
        group.MapGet("/assets/{name}", (string name) => Asset(name));
        group.MapGet("/page/modes", (ChatModes modes) =>
            TypedResults.Ok(modes.All.OrderBy(m => m.Id == ChatModes.DefaultMode ? 0 : 1).ThenBy(m => m.Id).Select(m => new ModeInfo(m.Id, m.Title, m.MaxTokens))));
        return group;
    }

    static Results<FileStreamHttpResult, NotFound> Asset(string name)
    {
        var type = ContentTypes.GetValueOrDefault(Path.GetExtension(name));
        var stream = type is null ? null : typeof(ChatPage).Assembly.GetManifestResourceStream("page/" + name);
        if (stream is null) return TypedResults.NotFound();
        return TypedResults.Stream(stream, type);
    }
}
