using SharpFuzz;
using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

// afl++ feeds one input per run through stdin/shared memory; everything but StateImageException is a crash.
if (args is ["seeds", var directory])
{
    WriteSeeds(directory);
    return;
}
if (args is ["check", var file])
{
    // Replays one input (a crash afl found) outside the fuzzer, with the exception shown.
    using var input = File.OpenRead(file);
    Read(input);
    Console.WriteLine("no crash");
    return;
}
Fuzzer.OutOfProcess.Run(Read);

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
