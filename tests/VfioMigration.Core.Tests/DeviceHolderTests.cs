using System.Text;
using CsCheck;
using VfioMigration.Backends.Linux;
using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// Who holds a device and in which state, read without opening it: fake /proc trees as the kernel lays them out
/// (fd links, fdinfo with vfio-device-syspath on 6.18+, cmdline, comm) and fake debugfs trees as
/// drivers/vfio/debugfs.c writes them; the parsers are bounded and never fail on any bytes.
/// </summary>
public sealed class DeviceHolderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("fake-proc-").FullName;
    private string Proc => Path.Combine(_root, "proc");
    private string Debug => Path.Combine(_root, "debug");

    public void Dispose() => Directory.Delete(_root, true);

    /// <summary>A process as /proc shows it: comm, cmdline (NUL-ended arguments), fd links and fdinfo texts.</summary>
    private void Process(int pid, string comm, string[] args, params (int Fd, string Link, string? SysPath)[] fds)
    {
        string dir = Path.Combine(Proc, pid.ToString());
        Directory.CreateDirectory(Path.Combine(dir, "fd"));
        Directory.CreateDirectory(Path.Combine(dir, "fdinfo"));
        File.WriteAllText(Path.Combine(dir, "comm"), comm + "\n");
        File.WriteAllBytes(Path.Combine(dir, "cmdline"), Encoding.UTF8.GetBytes(string.Concat(args.Select(a => a + "\0"))));
        foreach (var (fd, link, sys) in fds)
        {
            File.CreateSymbolicLink(Path.Combine(dir, "fd", fd.ToString()), link);
            File.WriteAllText(Path.Combine(dir, "fdinfo", fd.ToString()),
                "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n" + (sys is null ? "" : $"vfio-device-syspath: {sys}\n"));
        }
    }

    private void DebugfsState(string device, string state, string? features = null)
    {
        string dir = Path.Combine(Debug, "vfio", device, "migration");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "state"), state);
        if (features is not null) File.WriteAllText(Path.Combine(dir, "features"), features);
    }

    private LinuxBackend Backend() => new() { Processes = new ProcessHolders(Proc), Debugfs = new VfioDebugfs(Debug) };

    private static DeviceIdentity Pci(string address, int group, string? cdev = null) =>
        new() { Address = address, Kind = VfioDeviceKind.Pci, IommuGroup = group, IsVfioBound = true, DeviceNode = cdev };

    private static readonly string[] LibvirtQemu =
        { "/usr/bin/qemu-system-x86_64", "-name", "guest=web1,debug-threads=on", "-S", "-device", "vfio-pci,host=0000:00:03.0,id=hostdev0" };

    [Fact]
    public void A_qemu_on_6_18_is_named_by_fdinfo_and_its_group_holds_the_other_function()
    {
        Process(4242, "qemu-system-x86", LibvirtQemu,
            (20, "/dev/vfio/12", null), (21, "anon_inode:[vfio-device]", "/sys/devices/pci0000:00/0000:00:03.0"), (3, "/dev/null", null));
        Process(99, "bash", new[] { "bash" }, (0, "/dev/pts/0", null));
        var held = Backend().Holding(Pci("0000:00:03.0", 12));
        var h = Assert.Single(held.Holders);
        Assert.Equal(4242, h.ProcessId);
        Assert.Equal("qemu-system-x86", h.Command);
        Assert.Equal("web1", h.VmName);
        Assert.Contains("/sys/devices/pci0000:00/0000:00:03.0", h.Through);
        Assert.Equal("qemu-system-x86 (pid 4242, VM web1)", h.ToString());
        var sibling = Assert.Single(Backend().Holding(Pci("0000:00:03.1", 12)).Holders);
        Assert.Contains("IOMMU group /dev/vfio/12", sibling.Through);
        Assert.Empty(Backend().Holding(Pci("0000:00:04.0", 13)).Holders);
    }

    /// <summary>Attack finding 5c: comm (any user sets their own with PR_SET_NAME) and -name reached root's terminal raw.</summary>
    [Fact]
    public void A_holders_command_and_vm_name_are_shown_with_escapes_and_bidi_written_out()
    {
        Process(4242, "qemu\u001b]0;PWNED\u0007\u001b[2J", new[] { "qemu-system-x86_64", "-name", "guest=vm\u001b[31mRED\nFAKE LINE\u202e,debug-threads=on" },
            (3, "/dev/vfio/7", null));
        var h = Assert.Single(Backend().Holding(Pci("0000:00:07.0", 7)).Holders);
        Assert.Equal("qemu\\u001B]0;PWNED\\u0007\\u001B[2J", h.Command);
        Assert.Equal("vm\\u001B[31mRED\\u000AFAKE LINE\\u202E", h.VmName);
        Assert.DoesNotContain(h.ToString(), c => DisplayText.NeedsEscape(c));
    }

    [Fact]
    public void Before_6_18_a_group_link_names_the_holder()
    {
        // 6.12: no vfio-device-syspath in fdinfo; the group fd and the anonymous device fd are all there is.
        Process(77, "qemu-system-x86", new[] { "qemu-system-x86_64", "-name", "web2", "-device", "vfio-pci,sysfsdev=/sys/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" },
            (10, "/dev/vfio/0", null), (11, "anon_inode:[vfio-device]", null));
        var h = Assert.Single(Backend().Holding(Pci("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", 0)).Holders);
        Assert.Equal("web2", h.VmName);
        Assert.Equal("its IOMMU group /dev/vfio/0", h.Through);
    }

    [Fact]
    public void A_cdev_and_a_noiommu_group_name_their_holders_and_only_qemu_has_a_vm_name()
    {
        Process(5, "holder", new[] { "/usr/local/bin/holder", "-name", "not-a-vm" }, (4, "/dev/vfio/devices/vfio3", null));
        Process(6, "dpdk-testpmd", new[] { "dpdk-testpmd" }, (4, "/dev/vfio/noiommu-7", null));
        var cdev = Assert.Single(Backend().Holding(Pci("0000:01:00.0", 30, "/whatever/dev/vfio/devices/vfio3")).Holders);
        Assert.Equal(5, cdev.ProcessId);
        Assert.Null(cdev.VmName);
        Assert.Equal("holder (pid 5)", cdev.ToString());
        Assert.Equal(6, Assert.Single(Backend().Holding(Pci("0000:02:00.0", 7)).Holders).ProcessId);
    }

    [Fact]
    public void Debugfs_shows_the_state_and_features_as_the_kernel_writes_them()
    {
        DebugfsState("0000:00:03.0", "PRE_COPY_P2P\n", "stop-copy\np2p\npre-copy\ndirty-tracking\n");
        DebugfsState("0000:00:03.1", "RUNNING\n");
        var a = Backend().Holding(Pci("0000:00:03.0", 12));
        Assert.Equal(MigrationState.PreCopyP2P, a.State);
        Assert.Equal("stop-copy, p2p, pre-copy, dirty-tracking", a.Features);
        Assert.Equal(MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy, a.Capabilities);
        Assert.Null(a.StateProblem);
        var b = Backend().Holding(Pci("0000:00:03.1", 12));
        Assert.Equal(MigrationState.Running, b.State);
        Assert.Null(b.Features); // before 6.18
        Assert.Contains("no entry", Backend().Holding(Pci("0000:00:09.0", 12)).StateProblem);
    }

    [Fact]
    public void Without_vfio_debugfs_there_is_one_reason_and_no_guess()
    {
        Assert.Contains("not mounted", Backend().Holding(Pci("0000:00:03.0", 12)).StateProblem);
        Directory.CreateDirectory(Path.Combine(Debug, "dri")); // debugfs mounted, but the kernel has no VFIO part (Debian)
        var held = Backend().Holding(Pci("0000:00:03.0", 12));
        Assert.Null(held.State);
        Assert.Contains("CONFIG_VFIO_DEBUGFS", held.StateProblem);
        Directory.CreateDirectory(Path.Combine(Debug, "vfio", "0000:00:03.0"));
        Assert.Contains("no migration", Backend().Holding(Pci("0000:00:03.0", 12)).StateProblem);
        DebugfsState("0000:00:03.0", "Invalid\n");
        Assert.Contains("Invalid", Backend().Holding(Pci("0000:00:03.0", 12)).StateProblem);
        Assert.Contains("not a device name", new VfioDebugfs(Debug).Read("../etc").Problem);
    }

    [Theory]
    [InlineData("web1", "web1")]
    [InlineData("guest=web1,debug-threads=on", "web1")]
    [InlineData("web1,debug-threads=on", "web1")]
    [InlineData("debug-threads=on,guest=db", "db")]
    [InlineData("a,,b,debug-threads=on", "a,b")]
    [InlineData("debug-threads=on", null)]
    [InlineData("", null)]
    public void Qemu_name_options_give_the_guest_name(string value, string? name) =>
        Assert.Equal(name, ProcessCommandLine.VmName(new[] { "qemu-system-x86_64", "-name", value }));

    [Fact]
    public void Long_files_are_read_only_up_to_their_bound()
    {
        string big = Path.Combine(_root, "big");
        File.WriteAllBytes(big, new byte[ProcessHolders.MaxCmdlineBytes * 3]);
        var (bytes, truncated) = BoundedFile.Read(big, ProcessHolders.MaxCmdlineBytes);
        Assert.Equal(ProcessHolders.MaxCmdlineBytes, bytes.Length);
        Assert.True(truncated);
        Assert.True(ProcessCommandLine.Arguments(bytes).Length <= ProcessCommandLine.MaxArguments);
        // An fdinfo line longer than the bound is cut, and a cut path names no device (never a guess).
        string name = new('x', 10_000);
        Process(8, "qemu-system-x86", LibvirtQemu, (21, "anon_inode:[vfio-device]", "/sys/devices/" + name));
        Assert.Empty(Backend().Holding(Pci(name, 12)).Holders);
        Assert.Empty(Backend().Holding(Pci(name[..(ProcessHolders.MaxFdinfoBytes - 60)], 12)).Holders);
        Assert.Null(ProcessHolders.SysPath(Encoding.UTF8.GetBytes("vfio-device-syspath: /sys/devices/pci0000:00/0000:00:03.0")));
    }

    [Fact]
    public void The_parsers_take_any_bytes_without_failing()
    {
        Gen.Byte.Array[0, 600].Sample(bytes =>
        {
            var args = ProcessCommandLine.Arguments(bytes);
            Assert.True(args.Length <= ProcessCommandLine.MaxArguments);
            _ = ProcessCommandLine.VmName(args);
            string? sys = ProcessHolders.SysPath(bytes);
            Assert.True(sys is null || sys.StartsWith("/sys/", StringComparison.Ordinal));
            var (state, problem) = VfioDebugfs.ParseState(bytes);
            Assert.True(state is null != (problem is null));
            Assert.True(problem is null || problem.Length < 200);
            Assert.True(VfioDebugfs.ParseFeatures(bytes).Length < 400);
            var (group, cdev, _) = ProcessHolders.Classify(Encoding.UTF8.GetString(bytes));
            Assert.True(group is null or >= 0);
            Assert.True(cdev is null || cdev.StartsWith("vfio", StringComparison.Ordinal));
        }, iter: 20_000);
        // And the same with text near the real forms.
        Gen.OneOfConst("vfio-device-syspath: /sys/devices/", "RUNNING", "PRE_COPY", "/dev/vfio/", "/dev/vfio/devices/vfio", "-name", "guest=", ",,", "\0", "\n", "12", "noiommu-")
            .Array[0, 12].Select(parts => Encoding.UTF8.GetBytes(string.Concat(parts))).Sample(bytes =>
            {
                _ = ProcessCommandLine.VmName(ProcessCommandLine.Arguments(bytes));
                _ = ProcessHolders.SysPath(bytes);
                _ = VfioDebugfs.ParseState(bytes);
                _ = ProcessHolders.Classify(Encoding.UTF8.GetString(bytes));
            }, iter: 20_000);
    }

    [Fact]
    public void A_simulated_vm_holding_a_device_is_named_by_describe_and_by_the_in_use_blocker()
    {
        var host = SimulatedHost.CreateDefault();
        host["0000:3b:00.2"].HeldBy = new DeviceHolder { ProcessId = 4242, Command = "qemu-system-x86", VmName = "web1", Through = "a device fd" };
        using var s = new VfioHostSession(new SimulatedBackend(host));
        var d = s.Describe("0000:3b:00.2");
        Assert.Null(d.State);
        Assert.Equal("qemu-system-x86 (pid 4242, VM web1)", d.HeldBy);
        Assert.Equal(MigrationState.Running, d.HeldState);
        Assert.Equal(MigrationProtocol.V2, d.Protocol);
        Assert.Equal(host["0000:3b:00.2"].Options.Capabilities, d.Capabilities);
        Assert.Contains("web1", d.StateError);
        var readiness = MigrationReadinessCheck.Check(s, new[] { s.Identity("0000:3b:00.2") })[0];
        var blocker = Assert.Single(readiness.Blockers, b => b.Code == "GroupInUse");
        Assert.Contains("qemu-system-x86 (pid 4242, VM web1)", blocker.Cause);
        Assert.Contains("Running", blocker.Cause);
        Assert.Empty(s.Describe("0000:5e:00.1").Holders);
    }
}
