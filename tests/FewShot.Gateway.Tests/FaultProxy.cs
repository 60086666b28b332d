using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FewShot.Gateway.Tests;

/// <summary>What the proxy does with the next requests.</summary>
public enum Fault
{
    /// <summary>Forward to the upstream and copy its answer back as it arrives.</summary>
    None,
    /// <summary>Stop listening: connections are refused.</summary>
    Refuse,
    Status429,
    Status500,
    Status503,
    /// <summary>Read the request, then say nothing until the gateway gives up.</summary>
    StallBeforeFirstByte,
    /// <summary>Forward a stream, but close the connection after two events.</summary>
    CutStream,
    /// <summary>Answer 200 with an event stream whose first event is not JSON.</summary>
    MalformedSse,
    /// <summary>Answer 200 with valid chunks every 20 ms that never end (no usage, no [DONE]).</summary>
    Endless,
    /// <summary>Forward, but drop the usage the upstream reports (in a JSON body or a stream's usage chunk).</summary>
    DropUsage,
    /// <summary>Answer 200 with a non-JSON body (non-streamed) or a stream that is plain text.</summary>
    NotJson,
}

/// <summary>
/// A small HTTP/1.1 proxy on a loopback socket between the gateway and an upstream, which injects faults: refused
/// connections, 429/500/503, a stall before the first byte, a stream cut in the middle, malformed events, an endless
/// stream. Each connection carries one request (Connection: close). It records what it saw: requests, the Authorization
/// headers, and when the gateway closed an endless stream.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    readonly Uri target;
    readonly CancellationTokenSource stop = new();
    readonly HttpClient upstream = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = Timeout.InfiniteTimeSpan };
    TcpListener? listener;
    Task? accepting;
    int requests;

    public int Port { get; }
    public Uri BaseUrl => new($"http://127.0.0.1:{Port}/v1");
    public volatile Fault Mode = Fault.None;
    public ConcurrentQueue<string> Authorizations { get; } = new();
    public ConcurrentQueue<string> RequestHeads { get; } = new();
    /// <summary>Completed when the gateway closes an endless stream (the disconnect reached the upstream side).</summary>
    public TaskCompletionSource<TimeSpan> EndlessClosed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Generation requests seen (POSTs; the gateway's health checks are GETs).</summary>
    public int Requests => Volatile.Read(ref requests);

    public FaultProxy(Uri target)
    {
        this.target = target;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Listen();
    }

    /// <summary>Refuse: stop listening (the port answers with RST); any other mode: listen again.</summary>
    public void Set(Fault mode)
    {
        Mode = mode;
        if (mode == Fault.Refuse) { listener?.Stop(); listener = null; }
        else if (listener is null) Listen();
        if (mode == Fault.Endless) EndlessClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    void Listen()
    {
        var l = new TcpListener(IPAddress.Loopback, Port);
        l.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        l.Start();
        listener = l;
        accepting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Socket socket;
                try { socket = await l.AcceptSocketAsync(stop.Token); }
                catch (Exception) { return; } // stopped
                _ = Task.Run(() => ServeAsync(socket));
            }
        });
    }

    async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            var (head, body) = await ReadRequestAsync(stream);
            RequestHeads.Enqueue(head);
            var lines = head.Split("\r\n");
            if (lines[0].StartsWith("POST ", StringComparison.Ordinal)) Interlocked.Increment(ref requests);
            var auth = lines.FirstOrDefault(l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase));
            Authorizations.Enqueue(auth?["Authorization:".Length..].Trim() ?? "");
            var (method, path) = (lines[0].Split(' ')[0], lines[0].Split(' ')[1]);
            var streaming = body.Contains("\"stream\":true", StringComparison.Ordinal);
            switch (Mode)
            {
                case Fault.Status429:
                    await WriteAsync(stream, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Type: application/json\r\n",
                        """{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}""");
                    return;
                case Fault.Status500:
                    await WriteAsync(stream, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n",
                        "{\"error\":{\"message\":\"boom at " + target + "\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
                    return;
                case Fault.Status503:
                    await WriteAsync(stream, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n", """{"error":{"message":"down"}}""");
                    return;
                case Fault.StallBeforeFirstByte:
                    await Task.Delay(TimeSpan.FromSeconds(30), stop.Token).ContinueWith(_ => { });
                    return;
                case Fault.MalformedSse:
                    await WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", "data: {\"choices\": [this is not json\n\n");
                    return;
                case Fault.NotJson when !streaming:
                    await WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", "<html>not json</html>");
                    return;
                case Fault.NotJson:
                    await WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", "data: hello\n\ndata: world\n\n");
                    return;
                case Fault.Endless:
                    await EndlessAsync(stream);
                    return;
            }
            await ForwardAsync(stream, method, path, head, body);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
    }

    async Task EndlessAsync(NetworkStream stream)
    {
        var head = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(head, stop.Token);
        var closed = EndlessClosed;
        var started = DateTime.UtcNow;
        try
        {
            for (var i = 0; i < 3000 && !stop.IsCancellationRequested; i++) // 60 s at most
            {
                var chunk = "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok" + i
                    + " \"},\"text\":\"tok" + i + " \",\"finish_reason\":null}]}\n\n";
                await stream.WriteAsync(Encoding.UTF8.GetBytes(chunk), stop.Token);
                await stream.FlushAsync(stop.Token);
                await Task.Delay(20, stop.Token);
            }
        }
        catch (IOException) { closed.TrySetResult(DateTime.UtcNow - started); }
        catch (SocketException) { closed.TrySetResult(DateTime.UtcNow - started); }
    }

    /// <summary>Sends the request on to the upstream and copies the answer back as it comes (close-delimited body).</summary>
    async Task ForwardAsync(NetworkStream stream, string method, string path, string head, string body)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(target, path));
        if (body.Length > 0) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop.Token);
        var type = response.Content.Headers.ContentType?.ToString() ?? "application/json";
        var status = $"HTTP/1.1 {(int)response.StatusCode} {response.ReasonPhrase}\r\nContent-Type: {type}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(status), stop.Token);
        await using var content = await response.Content.ReadAsStreamAsync(stop.Token);
        if (Mode == Fault.DropUsage)
        {
            var text = await new StreamReader(content).ReadToEndAsync(stop.Token);
            text = type.StartsWith("text/event-stream", StringComparison.Ordinal)
                ? string.Join("\n\n", text.Split("\n\n").Where(e => !(e.Contains("\"usage\":{", StringComparison.Ordinal) && e.Contains("\"choices\":[]", StringComparison.Ordinal))))
                : System.Text.Json.Nodes.JsonNode.Parse(text)!.AsObject().Also(o => o.Remove("usage")).ToJsonString();
            await stream.WriteAsync(Encoding.UTF8.GetBytes(text), stop.Token);
            return;
        }
        var buffer = new byte[8192];
        var events = 0;
        int read;
        while ((read = await content.ReadAsync(buffer, stop.Token)) > 0)
        {
            if (Mode == Fault.CutStream)
            {
                // Pass whole events one at a time; after two, drop the connection in the middle of the answer.
                events += Encoding.UTF8.GetString(buffer, 0, read).Split("\n\n").Length - 1;
                await stream.WriteAsync(buffer.AsMemory(0, read), stop.Token);
                await stream.FlushAsync(stop.Token);
                if (events >= 2) { stream.Socket.Close(0); return; }
                continue;
            }
            await stream.WriteAsync(buffer.AsMemory(0, read), stop.Token);
            await stream.FlushAsync(stop.Token);
        }
    }

    static async Task WriteAsync(NetworkStream stream, string head, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head + $"Content-Length: {bytes.Length}\r\nConnection: close\r\n\r\n"));
        await stream.WriteAsync(bytes);
        await stream.FlushAsync();
    }

    static async Task<(string Head, string Body)> ReadRequestAsync(NetworkStream stream)
    {
        var buffer = new MemoryStream();
        var one = new byte[4096];
        int headEnd;
        while (true)
        {
            var read = await stream.ReadAsync(one);
            if (read == 0) throw new IOException("closed before a request");
            buffer.Write(one, 0, read);
            headEnd = Encoding.ASCII.GetString(buffer.GetBuffer(), 0, (int)buffer.Length).IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headEnd >= 0) break;
            if (buffer.Length > 1 << 20) throw new IOException("head too large");
        }
        var head = Encoding.ASCII.GetString(buffer.GetBuffer(), 0, headEnd);
        var lengthLine = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var length = lengthLine is null ? 0 : int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var bodyStart = headEnd + 4;
        while (buffer.Length - bodyStart < length)
        {
            var read = await stream.ReadAsync(one);
            if (read == 0) throw new IOException("closed inside the body");
            buffer.Write(one, 0, read);
        }
        return (head, Encoding.UTF8.GetString(buffer.GetBuffer(), bodyStart, length));
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener?.Stop();
        if (accepting is not null) await accepting.ContinueWith(_ => { });
        upstream.Dispose();
    }
}

static class JsonObjectExtensions
{
    public static System.Text.Json.Nodes.JsonObject Also(this System.Text.Json.Nodes.JsonObject o, Action<System.Text.Json.Nodes.JsonObject> change)
    {
        change(o);
        return o;
    }
}
