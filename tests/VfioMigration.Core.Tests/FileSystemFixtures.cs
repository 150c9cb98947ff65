using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using System.Text;
using System.Text.Json.Nodes;
using VfioMigration.Images;

namespace VfioMigration.Tests;

/// <summary>A small tmpfs mounted for one test (root only): a disk that really fills up, or a read-only one.</summary>
internal sealed class Tmpfs : IDisposable
{
    private Tmpfs(string path) => Path = path;

    public string Path { get; }

    /// <summary>Mounts one, or returns null with the reason this machine cannot (not root, no mount).</summary>
    public static Tmpfs? Mount(string options, out string? why)
    {
        why = null;
        if (!OperatingSystem.IsLinux()) { why = "tmpfs needs Linux"; return null; }
        var dir = Directory.CreateTempSubdirectory("vfio-tmpfs-").FullName;
        var (rc, output) = Run("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir);
        if (rc == 0) return new Tmpfs(dir);
        Directory.Delete(dir);
        why = $"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): mount said {output.Trim()}";
        return null;
    }

    public static (int Rc, string Output) Run(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
    }

    public string[] Files => Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).ToArray()!;

    public void Dispose()
    {
        Run("umount", "-l", Path);
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Edits an image's header JSON and recomputes lengths and the checksum, so only the header checks can catch the edit.</summary>
internal static class ImageSurgery
{
    public static byte[] WithHeader(byte[] image, Action<JsonObject> edit) => WithHeaderText(image, json =>
    {
        var node = JsonNode.Parse(json)!.AsObject();
        edit(node);
        return node.ToJsonString();
    });

    public static byte[] WithHeaderText(byte[] image, Func<string, string> edit)
    {
        int h = (int)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(12));
        var header = Encoding.UTF8.GetBytes(edit(Encoding.UTF8.GetString(image, 16, h)));
        var body = image.AsSpan(16 + h, image.Length - 16 - h - 16);
        var result = new byte[16 + header.Length + body.Length + 16];
        image.AsSpan(0, 16).CopyTo(result);
        BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(12), (uint)header.Length);
        header.CopyTo(result.AsSpan(16));
        body.CopyTo(result.AsSpan(16 + header.Length));
        return Rehash(result);
    }

    /// <summary>Writes the XXH128 of everything before the last 16 bytes into them.</summary>
    public static byte[] Rehash(byte[] image)
    {
        var digest = XxHash128.Hash(image.AsSpan(0, image.Length - 16));
        digest.CopyTo(image.AsSpan(image.Length - 16));
        return image;
    }

    public static bool Verifies(byte[] image)
    {
        try
        {
            StateImageReader.Open(new MemoryStream(image), "m").ReadData(null);
            return true;
        }
        catch (StateImageException) { return false; }
    }
}
