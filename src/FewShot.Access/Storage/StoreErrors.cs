using System.Net.Sockets;
using Npgsql;

namespace FewShot.Access.Storage;

/// <summary>Tells a store that is away for now (PostgreSQL stopped, restarting or unreachable) from a bug or bad data.</summary>
public static class StoreErrors
{
    public static bool IsUnavailable(Exception e) => e switch
    {
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server is stopping or starting.
        PostgresException p => p.IsTransient || p.SqlState is "57P01" or "57P02" or "57P03",
        NpgsqlException n => n.IsTransient || n.InnerException is { } inner && IsUnavailable(inner),
        SocketException or TimeoutException or IOException => true,
        _ => false,
    };
}
