// A small HTTP server on one loopback address and port: a directory's files (a built front end), or fixed JSON answers
// for every path (a stand-in for a back end the page also calls). It counts what it was asked.
using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace PacketScope.Kernel.Tests.Fixtures;

public sealed class StaticSite : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly string? _root;
    private readonly Func<string, string?>? _json;
    private readonly Task _loop;

    private StaticSite(string prefix, string? root, Func<string, string?>? json)
    {
        _root = root;
        _json = json;
        _listener.Prefixes.Add(prefix);
        _listener.Start();
        Origin = prefix.TrimEnd('/');
        _loop = Task.Run(Serve);
    }

    /// <summary>scheme://host:port, as a browser sends it in Origin.</summary>
    public string Origin { get; }

    public ConcurrentQueue<string> Requested { get; } = new();

    /// <summary>Serves the files under <paramref name="root"/> (index.html for "/").</summary>
    public static StaticSite Files(string host, int port, string root) => new($"http://{host}:{port}/", root, null);

    /// <summary>Answers every path with the JSON <paramref name="answer"/> gives (404 for null), readable from any origin.</summary>
    public static StaticSite Json(string host, int port, Func<string, string?> answer) => new($"http://{host}:{port}/", null, answer);

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                Answer(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                // The browser went away mid-answer.
            }
        }
    }

    private void Answer(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath;
        Requested.Enqueue(path);
        var response = context.Response;
        byte[] body;
        if (_json is not null)
        {
            response.AddHeader("Access-Control-Allow-Origin", "*");
            var json = _json(path);
            response.StatusCode = json is null ? 404 : 200;
            response.ContentType = "application/json";
            body = Encoding.UTF8.GetBytes(json ?? "{}");
        }
        else
        {
            var relative = path == "/" ? "index.html" : Uri.UnescapeDataString(path.TrimStart('/'));
            var file = Path.GetFullPath(Path.Combine(_root!, relative));
            if (!file.StartsWith(Path.GetFullPath(_root!) + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
            {
                response.StatusCode = 404;
                body = [];
            }
            else
            {
                response.ContentType = Path.GetExtension(file) switch
                {
                    ".html" => "text/html; charset=utf-8",
                    ".js" => "text/javascript; charset=utf-8",
                    ".css" => "text/css; charset=utf-8",
                    ".svg" => "image/svg+xml",
                    ".png" => "image/png",
                    _ => "application/octet-stream",
                };
                body = File.ReadAllBytes(file);
            }
        }
        response.ContentLength64 = body.Length;
        response.OutputStream.Write(body);
        response.Close();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
