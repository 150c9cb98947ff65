using SharpFuzz;
using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Qemu;
using VfioMigration.Tests;

// Two targets: "image" (the state image reader, the default) and "qemu" (the QEMU migration stream reader).
// afl++ feeds one input per run through stdin/shared memory; everything but the reader's own error is a crash.
string target = args.FirstOrDefault(a => a is "image" or "qemu") ?? "image";
args = args.Where(a => a is not ("image" or "qemu")).ToArray();
Action<Stream> run = target == "qemu" ? ReadQemu : Read;
if (args is ["seeds", var directory])
{
    if (target == "qemu") WriteQemuSeeds(directory); else WriteSeeds(directory);
    return;
}
if (args is ["check", var file])
{
    // Replays one input (a crash afl found) outside the fuzzer, with the exception shown.
    using var input = File.OpenRead(file);
    run(input);
    Console.WriteLine("no crash");
    return;
}
Fuzzer.OutOfProcess.Run(run);

static void ReadQemu(Stream stream)
{
    var copy = new MemoryStream();
    stream.CopyTo(copy);
    var bytes = copy.ToArray();
    try
    {
        var input = new QemuStreamInput { Path = "fuzz", Open = () => new MemoryStream(bytes, writable: false) };
        var contents = QemuStreamReader.Read(input, extract: 2, onData: _ => { });
        foreach (var s in contents.VfioSections) _ = (s.Problem, s.GuestAddress, s.Config);
    }
    catch (QemuStreamException)
    {
        // A refused stream is the reader doing its job.
    }
}

// Small streams of the documented layout: one mtty device (RAM, a described device, the VFIO parts), one cut short.
static void WriteQemuSeeds(string directory)
{
    Directory.CreateDirectory(directory);
    var (stream, builder) = QemuStreamBuilder.Mtty(new byte[] { 1, 2, 3, 4 }, new byte[] { 5, 6, 7, 8, 9, 10 });
    File.WriteAllBytes(Path.Combine(directory, "mtty.mig"), stream);
    var b = new QemuStreamBuilder();
    b.VfioStart(2, "0000:00:05.0/vfio").VfioData(2, false, QemuStreamBuilder.ConfigLoadReady, new byte[] { 1 }).VfioConfig(2, "0000:00:05.0/vfio", 0x10de, 0x2330, 256);
    File.WriteAllBytes(Path.Combine(directory, "incomplete.mig"), b.Finish());
}

static void Read(Stream stream)
{
    try
    {
        var reader = StateImageReader.Open(stream, "fuzz");
        reader.ReadData(null);
        _ = StateImageInspector.Describe(reader, "fuzz", 0, null);
    }
    catch (StateImageException)
    {
        // A refused image is the reader doing its job.
    }
}

// Small but complete images of each shape: v2, v1, and one member of a set.
static void WriteSeeds(string directory)
{
    Directory.CreateDirectory(directory);
    var host = new SimulatedHost();
    host.Add(new SimulatedDeviceOptions { Address = "0000:01:00.0", Protocol = MigrationProtocol.V2, Capabilities = MigrationCapabilities.StopCopy, MemorySize = 16 * 1024, Seed = 1 });
    host.Add(new SimulatedDeviceOptions { Address = "0000:02:00.0", Protocol = MigrationProtocol.V1, MemorySize = 16 * 1024, Seed = 2 });
    host.Add(new SimulatedDeviceOptions { Address = "0000:03:00.0", Protocol = MigrationProtocol.V2, Capabilities = MigrationCapabilities.StopCopy, MemorySize = 16 * 1024, Seed = 3 });
    host.Add(new SimulatedDeviceOptions { Address = "0000:03:00.1", Protocol = MigrationProtocol.V2, Capabilities = MigrationCapabilities.StopCopy, MemorySize = 16 * 1024, Seed = 4 });
    using var session = new VfioHostSession(new SimulatedBackend(host));
    SaveTarget T(string address, string name) => new(session.Migration(address), session.Describe(address), Path.Combine(directory, name));
    foreach (var group in new[] { new[] { T("0000:01:00.0", "v2.vfiostate") }, new[] { T("0000:02:00.0", "v1.vfiostate") }, new[] { T("0000:03:00.0", "set0.vfiostate"), T("0000:03:00.1", "set1.vfiostate") } })
        foreach (var o in DeviceSetSaver.Save(group, new SaveOptions(), overwrite: true, forceQuiesce: true))
            if (o.Error is { } e) throw e;
    // afl works best on small inputs: the same headers with a few bytes of data (the reader does not look inside).
    foreach (var name in new[] { "v2", "v1", "set0", "set1" })
    {
        StateImageHeader header;
        using (var full = File.OpenRead(Path.Combine(directory, name + ".vfiostate"))) header = StateImageReader.Open(full, name).Header;
        using var small = File.Create(Path.Combine(directory, name + "-small.vfiostate"));
        var writer = new StateImageWriter(small, header);
        writer.WriteChunk("device state"u8);
        writer.WriteChunk(new byte[] { 1, 2, 3, 4 });
        writer.Finish(new StateImageSummary { PreCopyRounds = 1, PreCopyBytes = 4, DowntimeMilliseconds = 0.5, DurationMilliseconds = 1.5 });
        if (name != "v2") File.Delete(Path.Combine(directory, name + ".vfiostate"));
    }
}
