using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;

namespace VfioMigration.Tests;

/// <summary>A simulated host in a session, and a scratch directory for images that is removed afterwards.</summary>
internal sealed class ImageFixture : IDisposable
{
    public ImageFixture(SimulatedHost? host = null)
    {
        Host = host ?? new SimulatedHost();
        Session = new VfioHostSession(new SimulatedBackend(Host));
        Directory = System.IO.Directory.CreateTempSubdirectory("vfio-images-").FullName;
    }

    public SimulatedHost Host { get; }
    public VfioHostSession Session { get; }
    public string Directory { get; }

    public string PathFor(string name) => System.IO.Path.Combine(Directory, name);

    public SaveTarget Save(string address, string file) => new(Session.Migration(address), Session.Describe(address), PathFor(file));
    public RestoreTarget Restore(string address, string file) => new(Session.Migration(address), Session.Describe(address), PathFor(file));

    /// <summary>Every file in the scratch directory, temporary ones included.</summary>
    public string[] Files => System.IO.Directory.GetFiles(Directory).Select(System.IO.Path.GetFileName).ToArray()!;

    public void Dispose()
    {
        Session.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
