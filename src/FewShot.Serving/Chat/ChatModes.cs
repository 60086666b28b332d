using FewShot.Serving.Hosting;
using Microsoft.Extensions.Options;

namespace FewShot.Serving.Chat;

/// <summary>
/// The chat modes this server offers: the shipped Modes/*.json next to the app, then the operator's folder
/// (<see cref="ServingOptions.ModesFolder"/>), whose files add modes or replace shipped ones with the same id.
/// </summary>
public sealed class ChatModes
{
    public const string DefaultMode = "chat";
    readonly Dictionary<string, ChatMode> modes = new(StringComparer.OrdinalIgnoreCase);

    public ChatModes(IOptions<ServingOptions> options) : this(ShippedFolder, options.Value.ModesFolder) { }

    public ChatModes(params string?[] folders)
    {
        foreach (var folder in folders)
        {
            if (folder is null) continue;
            if (!Directory.Exists(folder))
            {
                if (folder == ShippedFolder) continue;
                throw new DirectoryNotFoundException($"{folder}: modes folder not found");
            }
            foreach (var file in Directory.GetFiles(folder, "*.json").Order(StringComparer.Ordinal))
            {
                var mode = ChatMode.Load(file);
                modes[mode.Id] = mode;
            }
        }
        if (modes.Count == 0) throw new InvalidDataException($"no chat modes found (looked in {string.Join(", ", folders.Where(f => f is not null))})");
    }

    /// <summary>Modes/ beside the application's assemblies.</summary>
    public static string ShippedFolder => Path.Combine(AppContext.BaseDirectory, "Modes");

    public IReadOnlyCollection<ChatMode> All => modes.Values;

    public bool TryGet(string id, out ChatMode mode) => modes.TryGetValue(id, out mode!);

    public ChatMode Default => modes.TryGetValue(DefaultMode, out var chat) ? chat : modes.Values.First();
}
