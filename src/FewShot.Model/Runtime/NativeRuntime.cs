using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FewShot.Model.Runtime;

/// <summary>
/// Makes TorchSharp's native library load on systems whose libstdc++ predates GCC 13 (Debian 12 among them).
/// </summary>
/// <remarks>
/// TorchSharp resolves its P/Invokes against <c>LibTorchSharp</c>. Before the first call this class registers a
/// resolver for the TorchSharp assembly: it loads the shipped library as it is when the system can, and otherwise
/// loads a copy patched by <see cref="LibStdCxxCompatibility"/> and kept in the user's cache folder. It needs no root,
/// no compiler and no manual step, and it does nothing where the shipped library already loads.
/// See docs/native-compatibility.md.
/// </remarks>
public static class NativeRuntime
{
    const string LibraryName = "LibTorchSharp";
    const string LibraryFile = "libLibTorchSharp.so";

    static readonly Lock Gate = new();
    static IntPtr handle;
    static bool registered;

    /// <summary>How the native library was loaded: "as shipped", "patched copy at PATH", or "default" (not Linux).</summary>
    public static string LoadedAs { get; private set; } = "not loaded";

    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "Every consumer of the model library needs the loader before its first TorchSharp call.")]
    internal static void OnModuleLoad() => EnsureRegistered();

    /// <summary>Registers the resolver (idempotent). Call before the first TorchSharp call in a process.</summary>
    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (registered) return;
            registered = true;
            if (!OperatingSystem.IsLinux())
            {
                LoadedAs = "default";
                return;
            }
            // Consulted after the runtime's own probing fails, for DllImport and NativeLibrary.Load(name, assembly) alike.
            System.Runtime.Loader.AssemblyLoadContext.Default.ResolvingUnmanagedDll += (assembly, name) =>
                assembly == typeof(TorchSharp.torch).Assembly ? Resolve(name) : IntPtr.Zero;
        }
    }

    static IntPtr Resolve(string name)
    {
        if (name != LibraryName && name != LibraryFile) return IntPtr.Zero;
        lock (Gate)
        {
            if (handle == IntPtr.Zero) handle = Load();
            return handle;
        }
    }

    static IntPtr Load()
    {
        var directory = FindNativeDirectory();
        if (directory is null)
        {
            LoadedAs = "default";
            return IntPtr.Zero; // let the runtime's own probing report what is missing
        }

        var shipped = Path.Combine(directory, LibraryFile);
        if (NativeLibrary.TryLoad(shipped, out var loaded))
        {
            LoadedAs = "as shipped";
            return loaded;
        }

        var image = File.ReadAllBytes(shipped);
        if (!LibStdCxxCompatibility.NeedsPatch(image))
        {
            LoadedAs = "default";
            return IntPtr.Zero;
        }

        var patched = WritePatchedCopy(image);
        // The copy lives outside the native folder, so its $ORIGIN run path cannot find libtorch: load the
        // dependencies from the native folder first; the dynamic loader then matches them by soname.
        foreach (var dependency in new[] { "libc10.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so" })
        {
            var path = Path.Combine(directory, dependency);
            if (File.Exists(path)) NativeLibrary.Load(path);
        }
        LoadedAs = $"patched copy at {patched}";
        return NativeLibrary.Load(patched);
    }

    static string? FindNativeDirectory()
    {
        var candidates = new[]
        {
            AppContext.BaseDirectory,
            Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native"),
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"),
            Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location) ?? "",
        };
        return candidates.FirstOrDefault(d => d.Length > 0 && File.Exists(Path.Combine(d, LibraryFile)));
    }

    // Writes the patched library once per distinct original (named by its hash), atomically.
    static string WritePatchedCopy(byte[] original)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(original))[..16];
        var folder = Path.Combine(CacheRoot(), "native", hash);
        var target = Path.Combine(folder, LibraryFile);
        if (File.Exists(target)) return target;

        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{LibraryFile}.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(temporary, LibStdCxxCompatibility.Patch(original));
        File.Move(temporary, target, overwrite: true);
        return target;
    }

    static string CacheRoot()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg)) return Path.Combine(xdg, "fewshot");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home)
            ? Path.Combine(Path.GetTempPath(), "fewshot-cache")
            : Path.Combine(home, ".cache", "fewshot");
    }
}
