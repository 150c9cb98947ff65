using System.Net.Sockets;
using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// Only regular files are image files, no open can block, and every file-system failure is a module
/// error that names the target, deletes every temporary file of the call and returns every device.
/// </summary>
public class ImageFileSafetyTests
{
    private static PosixFile.FileType TypeOf(string path, bool follow = false)
    {
        Assert.Equal(0, PosixFile.Stat(path, follow, out var st));
        return st.Type;
    }

    /// <summary>Makes a non-regular file of the given kind at <paramref name="path"/>; returns what must still be there afterwards.</summary>
    private static (PosixFile.FileType Type, IDisposable? Keep) MakeNode(string kind, string path)
    {
        switch (kind)
        {
            case "fifo":
                Assert.Equal(0, Tmpfs.Run("mkfifo", path).Rc);
                return (PosixFile.FileType.Fifo, null);
            case "socket":
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                socket.Bind(new UnixDomainSocketEndPoint(path));
                return (PosixFile.FileType.Socket, socket);
            case "directory":
                Directory.CreateDirectory(path);
                return (PosixFile.FileType.Directory, null);
            case "symlink-to-dev-null":
                File.CreateSymbolicLink(path, "/dev/null");
                return (PosixFile.FileType.Symlink, null);
            case "symlink-to-fifo":
                Assert.Equal(0, Tmpfs.Run("mkfifo", path + ".fifo").Rc);
                File.CreateSymbolicLink(path, path + ".fifo");
                return (PosixFile.FileType.Symlink, null);
            default: // "chardev": a private copy of /dev/null (1,3), so a failing test cannot break the machine's
                var (rc, output) = Tmpfs.Run("mknod", "-m", "666", path, "c", "1", "3");
                Skip.If(rc != 0, $"cannot mknod here: {output}");
                return (PosixFile.FileType.CharacterDevice, null);
        }
    }

    public static TheoryData<string, bool> NonRegularTargets()
    {
        var data = new TheoryData<string, bool>();
        foreach (var kind in new[] { "chardev", "fifo", "socket", "directory", "symlink-to-dev-null", "symlink-to-fifo" })
        {
            data.Add(kind, false);
            data.Add(kind, true);
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(NonRegularTargets))]
    public void ASaveNeverReplacesWhatIsNotARegularFileWithOrWithoutOverwrite(string kind, bool overwrite)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var path = f.PathFor("target.vfiostate");
        var (type, keep) = MakeNode(kind, path);
        using (keep)
        {
            var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "target.vfiostate") }, new SaveOptions(), overwrite, false));
            Assert.False(o.Succeeded);
            Assert.Equal(kind == "directory" ? "ImagePathIsDirectory" : "ImageNotRegularFile", o.Error!.ErrorId);
            Assert.Contains(path, o.Error.Message);
            Assert.Equal(type, TypeOf(path));
            Assert.Equal(MigrationState.Running, o.StateNow);
            Assert.Empty(a.ArcHistory);
            Assert.DoesNotContain(f.Files, n => n.EndsWith(".partial", StringComparison.Ordinal) || n.EndsWith(".lock", StringComparison.Ordinal));
        }
    }

    [SkippableTheory]
    [InlineData("fifo")]
    [InlineData("symlink-to-fifo")]
    [InlineData("chardev")]
    [InlineData("socket")]
    public void ReadingAnImageThatIsNotARegularFileIsRefusedAtOnce(string kind)
    {
        using var f = new ImageFixture();
        var b = f.Host.Add(Sim.V2());
        var path = f.PathFor("image.vfiostate");
        var (_, keep) = MakeNode(kind, path);
        using (keep)
        {
            try
            {
                var inspect = Task.Run(() => Assert.Throws<VfioMigrationException>(() => StateImageInspector.Inspect(path)));
                Assert.True(inspect.Wait(TimeSpan.FromSeconds(10)), "Get-VfioStateImage's reader blocked on " + kind);
                Assert.Equal("ImageNotRegularFile", inspect.Result.ErrorId);
                var restore = Task.Run(() => DeviceSetRestorer.Restore(new[] { f.Restore(b.Address, "image.vfiostate") }, MigrationState.Stop, RestoreOverrides.None));
                Assert.True(restore.Wait(TimeSpan.FromSeconds(10)), "the restore blocked on " + kind);
                var o = Assert.Single(restore.Result);
                Assert.Equal("ImageNotRegularFile", o.Error!.ErrorId);
                Assert.Empty(b.ArcHistory);
            }
            finally
            {
                // Release a reader that a broken build left blocked in open(): a writer appearing unblocks it.
                if (kind.Contains("fifo", StringComparison.Ordinal))
                    PosixFile.CloseQuietly(PosixFile.Open(path, PosixFile.OWrOnly | PosixFile.ONonBlock));
            }
        }
    }

    /// <summary>
    /// Issue 17 item 12: the single (not -Together) restore looks up each image's set before restoring, and that
    /// look-up opened the file unchecked: a FIFO hung it, a socket threw a raw IOException.
    /// </summary>
    [SkippableTheory]
    [InlineData("fifo")]
    [InlineData("symlink-to-fifo")]
    [InlineData("chardev")]
    [InlineData("socket")]
    [InlineData("directory")]
    public void TheRestoresSetLookUpRefusesWhatIsNotARegularFileAtOnce(string kind)
    {
        using var f = new ImageFixture();
        var path = f.PathFor("image.vfiostate");
        var (_, keep) = MakeNode(kind, path);
        using (keep)
        {
            try
            {
                var lookUp = Task.Run(() => Assert.Throws<VfioMigrationException>(() => StateImageInspector.ReadSetId(path)));
                Assert.True(lookUp.Wait(TimeSpan.FromSeconds(10)), "reading the set id blocked on " + kind);
                Assert.Equal(kind == "directory" ? "ImagePathIsDirectory" : "ImageNotRegularFile", lookUp.Result.ErrorId);
                Assert.Contains(path, lookUp.Result.Message);
            }
            finally
            {
                if (kind.Contains("fifo", StringComparison.Ordinal))
                    PosixFile.CloseQuietly(PosixFile.Open(path, PosixFile.OWrOnly | PosixFile.ONonBlock));
            }
        }
    }

    [Fact]
    public void TheSetLookUpOfAMissingOrDamagedImageIsAModuleError()
    {
        using var f = new ImageFixture();
        Assert.Equal("ImageNotFound", Assert.Throws<VfioMigrationException>(() => StateImageInspector.ReadSetId(f.PathFor("nope.vfiostate"))).ErrorId);
        File.WriteAllText(f.PathFor("junk.vfiostate"), "not an image");
        Assert.Equal("ImageInvalid", Assert.Throws<StateImageException>(() => StateImageInspector.ReadSetId(f.PathFor("junk.vfiostate"))).ErrorId);
    }

    /// <summary>
    /// The kind of problem behind item 12: a second way of opening an image that skips the checks. Every file
    /// Core opens outside the backends (images, QEMU streams, libvirt saves, the audit log) goes through ImageFile
    /// (reading), AtomicFile/ImageTargetLock (writing) or PosixFile (the syscalls those use); no other code may
    /// open a file by .NET's own API.
    /// </summary>
    [Fact]
    public void NoCoreCodeOpensAnImageOutsideTheCheckedOpen()
    {
        string core = CoreSource;
        var opens = new System.Text.RegularExpressions.Regex(@"new\s+FileStream\s*\(|\bFile\.(Open\w*|ReadAll\w*|ReadLines|Create\w*|WriteAll\w*|AppendAll\w*)\s*\(|new\s+StreamReader\s*\(\s*(path|full)");
        var offenders = new List<string>();
        // Everything but the backends, which read sysfs and device nodes, not images.
        foreach (var file in Directory.EnumerateFiles(core, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(core, file).Replace('\\', '/');
            if (relative.StartsWith("Backends/", StringComparison.Ordinal) || relative.StartsWith("obj/", StringComparison.Ordinal)
                || relative.StartsWith("bin/", StringComparison.Ordinal) || relative == "Images/ImageFile.cs") continue;
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
                if (!lines[i].TrimStart().StartsWith("//", StringComparison.Ordinal) && opens.IsMatch(lines[i]))
                    offenders.Add($"{relative}:{i + 1}: {lines[i].Trim()}");
        }
        Assert.True(offenders.Count == 0, "opened outside the checked open:\n" + string.Join("\n", offenders));
    }

    private static string CoreSource
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VfioMigration.slnx")))
                    return Path.Combine(dir.FullName, "src", "VfioMigration.Core");
            throw new DirectoryNotFoundException("VfioMigration.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    [Fact]
    public void ADirectoryIsSaidToBeADirectoryAndAMissingFileMissing()
    {
        using var f = new ImageFixture();
        Assert.Equal("ImagePathIsDirectory", Assert.Throws<VfioMigrationException>(() => StateImageInspector.Inspect(f.Directory)).ErrorId);
        var missing = Assert.Throws<VfioMigrationException>(() => StateImageInspector.Inspect(f.PathFor("nope.vfiostate")));
        Assert.Equal("ImageNotFound", missing.ErrorId);
        Assert.Contains("does not exist", missing.Message);
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("")]
    [InlineData("a\0b")]
    [InlineData("dir/ ")]
    public void BlankOrNulNamesAreRefusedBeforeTheDeviceIsTouched(string name)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var target = new SaveTarget(f.Session.Migration(a.Address), f.Session.Describe(a.Address), name);
        var o = Assert.Single(DeviceSetSaver.Save(new[] { target }, new SaveOptions(), true, false));
        Assert.Equal("ImagePathInvalid", o.Error!.ErrorId);
        Assert.Empty(a.ArcHistory);
        Assert.Empty(f.Files);
    }

    // ---- every file-system failure: a module error naming the target, no temporary file, the device returned ----

    public static TheoryData<string, int, string> StepFaults => new()
    {
        { "write", PosixFile.ENOSPC, "DiskFull" },
        { "write", PosixFile.EDQUOT, "DiskFull" },
        { "write", 5 /* EIO */, "ImageWriteFailed" },
        { "fsync", PosixFile.ENOSPC, "DiskFull" },
        { "fsync", 5, "ImageWriteFailed" },
        { "close", PosixFile.ENOSPC, "DiskFull" },
        { "rename", PosixFile.ENOSPC, "DiskFull" },
        { "rename", PosixFile.EACCES, "PermissionDenied" },
        { "rename", PosixFile.EROFS, "ImageWriteFailed" },
    };

    [Theory]
    [MemberData(nameof(StepFaults))]
    public void AFailureAtAnyStepOfWritingCleansUpAndNamesTheTarget(string step, int errno, string errorId)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 256 * 1024));
        File.WriteAllText(f.PathFor("a.vfiostate"), "previous image");
        int calls = 0;
        // The fault hits the second file of a set at that step, so the first file's success must be undone too.
        AtomicFile.FailForTests.Value = s => s == step && ++calls == 2 ? errno : 0;
        try
        {
            var outcomes = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate") }, new SaveOptions { ChunkSize = 64 * 1024 }, overwrite: true, false);
            Assert.All(outcomes, o => Assert.False(o.Succeeded));
            Assert.Contains(outcomes, o => o.Error!.ErrorId == errorId);
            var failing = outcomes.First(o => o.Error!.ErrorId == errorId);
            Assert.Contains(f.Directory, failing.Error!.Message);
            Assert.DoesNotContain(".partial", failing.Error.Message);
            Assert.All(outcomes, o => Assert.Equal(MigrationState.Running, o.StateNow));
            Assert.All(outcomes, o => Assert.Contains("No image was written", o.Error!.Message));
            Assert.Equal(MigrationState.Running, a.MigrationState);
            Assert.Equal(MigrationState.Running, b.MigrationState);
            if (step != "rename") Assert.Equal("previous image", File.ReadAllText(f.PathFor("a.vfiostate")));
            Assert.DoesNotContain(f.Files, n => n.StartsWith('.'));
            Assert.DoesNotContain("b.vfiostate", f.Files);
        }
        finally
        {
            AtomicFile.FailForTests.Value = null;
        }
    }

    [Fact]
    public void CreateErrorsAreModuleErrorsAndEarlierTemporaryFilesOfTheSetAreDeleted()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1"));
        foreach (var (bad, id) in new[]
        {
            ("/proc/self/vfio.vfiostate", (string?)null),
            (f.PathFor(new string('x', 300) + ".vfiostate"), "ImageWriteFailed"),
            (f.PathFor("no-such-dir/b.vfiostate"), "ImageDirectoryNotFound"),
        })
        {
            var second = new SaveTarget(f.Session.Migration(b.Address), f.Session.Describe(b.Address), bad);
            var outcomes = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), second }, new SaveOptions(), false, false);
            Assert.All(outcomes, o => Assert.False(o.Succeeded));
            var error = outcomes[1].Error!;
            Assert.IsNotType<Exception>(error);
            if (id is not null) Assert.Equal(id, error.ErrorId);
            Assert.Contains(bad.Length > 200 ? "File name too long" : "", error.Message);
            Assert.Empty(f.Files); // a's temporary file and lock are gone too
            Assert.Empty(a.ArcHistory);
            Assert.Empty(b.ArcHistory);
        }
    }

    [SkippableFact]
    public void ADiskThatFillsUpIsDiskFullWithNothingLeftAndTheDevicesBack()
    {
        using var fs = Tmpfs.Mount("size=2m,mode=0700", out var why);
        Skip.If(fs is null, why);
        using var f = new ImageFixture();
        var small = f.Host.Add(Sim.V2(memory: 64 * 1024));
        var big = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 4 * 1024 * 1024));
        File.WriteAllText(Path.Combine(fs!.Path, "big.vfiostate"), "previous image");
        SaveTarget T(SimulatedDevice d, string name) => new(f.Session.Migration(d.Address), f.Session.Describe(d.Address), Path.Combine(fs.Path, name));

        var single = Assert.Single(DeviceSetSaver.Save(new[] { T(big, "big.vfiostate") }, new SaveOptions(), overwrite: true, false));
        Assert.Equal("DiskFull", single.Error!.ErrorId);
        Assert.Contains(Path.Combine(fs.Path, "big.vfiostate"), single.Error.Message);
        Assert.Equal(MigrationState.Running, single.StateNow);
        Assert.Equal(new[] { "big.vfiostate" }, fs.Files);
        Assert.Equal("previous image", File.ReadAllText(Path.Combine(fs.Path, "big.vfiostate")));

        var set = DeviceSetSaver.Save(new[] { T(small, "small.vfiostate"), T(big, "big2.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(set, o => Assert.Equal(MigrationState.Running, o.StateNow));
        Assert.Equal("DiskFull", set[1].Error!.ErrorId);
        Assert.Equal("SaveAborted", set[0].Error!.ErrorId);
        Assert.Equal(new[] { "big.vfiostate" }, fs.Files);

        // And the disk is usable again: what fits is saved.
        Assert.True(DeviceSetSaver.Save(new[] { T(small, "small.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
    }

    [SkippableFact]
    public void AReadOnlyFileSystemIsAClearErrorBeforeTheDeviceIsTouched()
    {
        using var fs = Tmpfs.Mount("size=1m,ro", out var why);
        Skip.If(fs is null, why);
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var o = Assert.Single(DeviceSetSaver.Save(new[] { new SaveTarget(f.Session.Migration(a.Address), f.Session.Describe(a.Address), Path.Combine(fs!.Path, "a.vfiostate")) }, new SaveOptions(), false, false));
        Assert.Equal("ImageWriteFailed", o.Error!.ErrorId);
        Assert.Contains("Read-only file system", o.Error.Message);
        Assert.Empty(a.ArcHistory);
    }

    [Fact]
    public void ALaterSaveRemovesStaleTemporaryFilesOfItsOwnPatternOnly()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var stale = f.PathFor($".a.vfiostate.{Guid.NewGuid():N}.partial");
        var otherTarget = f.PathFor($".b.vfiostate.{Guid.NewGuid():N}.partial");
        var notOurs = f.PathFor(".a.vfiostate.keep-me.partial");
        foreach (var p in new[] { stale, otherTarget, notOurs }) File.WriteAllText(p, "left behind");
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(otherTarget));
        Assert.True(File.Exists(notOurs));
        Assert.Equal(new[] { ".a.vfiostate.keep-me.partial", Path.GetFileName(otherTarget), "a.vfiostate" }.Order(), f.Files.Order());
    }

    /// <summary>
    /// Attack finding 10: a <c>.name.lock</c> the module did not make (a FIFO, another user's file) was opened,
    /// used and then deleted. It is refused, left as it is, and the target is not written.
    /// </summary>
    [SkippableTheory]
    [InlineData("fifo")]
    [InlineData("other-user")]
    public void ALockFileNameTakenByWhatASaveDidNotMakeIsRefusedAndLeftAlone(string kind)
    {
        using var f = new ImageFixture();
        var target = f.PathFor("lockme.mig");
        var lockPath = f.PathFor(ImageTargetLock.LockName("lockme.mig"));
        if (kind == "fifo") Assert.Equal(0, Tmpfs.Run("mkfifo", lockPath).Rc);
        else
        {
            File.WriteAllText(lockPath, "someone else's");
            Skip.If(PosixFile.EffectiveUid != 0, "giving a file to another user needs root");
            Assert.Equal(0, Tmpfs.Run("chown", "65534", lockPath).Rc);
        }
        var e = Assert.Throws<VfioMigrationException>(() => ImageTargetLock.Acquire(target).Dispose());
        Assert.Equal(VfioErrors.ImageLockUnsafe, e.Error);
        Assert.Contains(lockPath, e.Message);
        Assert.Equal(0, PosixFile.Stat(lockPath, followLinks: false, out var st));
        Assert.Equal(kind == "fifo" ? PosixFile.FileType.Fifo : PosixFile.FileType.Regular, st.Type);
        Assert.False(File.Exists(target));
    }

    [Fact]
    public void ALockFileLeftByASaveOfOursIsTakenAndRemoved_AndOneThatReplacedOursIsNotRemoved()
    {
        using var f = new ImageFixture();
        var target = f.PathFor("a.vfiostate");
        var lockPath = f.PathFor(ImageTargetLock.LockName("a.vfiostate"));
        File.WriteAllText(lockPath, "");
        ImageTargetLock.Acquire(target).Dispose();
        Assert.False(File.Exists(lockPath));

        var held = ImageTargetLock.Acquire(target);
        var other = f.PathFor("other");
        File.WriteAllText(other, "not the lock");
        File.Move(other, lockPath, overwrite: true);
        held.Dispose();
        Assert.Equal("not the lock", File.ReadAllText(lockPath));
    }
}

