using System.Net.Sockets;
using System.Text;
using System.Text.Json;

/// <summary>
/// A QEMU Machine Protocol client over a unix socket, for the QEMU that runs inside the guest: one JSON object per
/// line; after the greeting, <c>qmp_capabilities</c> leaves negotiation mode; asynchronous events (objects with an
/// <c>event</c> member) arrive between replies and are kept in <see cref="Events"/>.
/// </summary>
internal sealed class Qmp : IDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly NetworkStream _stream;

    private Qmp(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(_stream, Encoding.UTF8);
        using var greeting = Read();
        Version = greeting.RootElement.GetProperty("QMP").GetProperty("version").GetProperty("qemu") is var v
            ? $"{v.GetProperty("major")}.{v.GetProperty("minor")}.{v.GetProperty("micro")}" : "";
        Execute("qmp_capabilities");
    }

    /// <summary>QEMU's version from the greeting (major.minor.micro).</summary>
    public string Version { get; }

    /// <summary>Events seen so far, as their JSON text.</summary>
    public List<string> Events { get; } = new();

    /// <summary>
    /// Connects to <paramref name="path"/> once QEMU listens there, retrying until <paramref name="timeout"/>;
    /// throws <see cref="TimeoutException"/> naming the socket, or <see cref="InvalidOperationException"/> when
    /// <paramref name="qemu"/> exits first.
    /// </summary>
    public static Qmp Connect(string path, System.Diagnostics.Process qemu, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            if (qemu.HasExited) throw new InvalidOperationException($"QEMU exited with {qemu.ExitCode} before its QMP socket {path} answered");
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(path));
                socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
                return new Qmp(socket);
            }
            catch (SocketException) when (clock.Elapsed < timeout)
            {
                socket.Dispose();
                Thread.Sleep(200);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Runs one command and returns its <c>return</c> value; a QMP <c>error</c> becomes an
    /// <see cref="InvalidOperationException"/> with QEMU's class and description.</summary>
    public JsonElement Execute(string command, object? arguments = null)
    {
        var request = arguments is null
            ? JsonSerializer.Serialize(new Dictionary<string, object> { ["execute"] = command })
            : JsonSerializer.Serialize(new Dictionary<string, object> { ["execute"] = command, ["arguments"] = arguments });
        _stream.Write(Encoding.UTF8.GetBytes(request + "\n"));
        while (true)
        {
            using var reply = Read();
            var root = reply.RootElement;
            if (root.TryGetProperty("event", out _)) { Events.Add(root.GetRawText()); continue; }
            if (root.TryGetProperty("error", out var error))
                throw new InvalidOperationException($"QMP {command}: {error.GetProperty("class")}: {error.GetProperty("desc")}");
            if (root.TryGetProperty("return", out var value)) return value.Clone();
        }
    }

    private JsonDocument Read()
    {
        string? line = _reader.ReadLine() ?? throw new EndOfStreamException("QEMU closed its QMP socket");
        return JsonDocument.Parse(line);
    }

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
        _socket.Dispose();
    }
}
