using System.Diagnostics;

/// <summary>
/// The QEMU that run-guest.sh puts inside the guest (VFIO_VM_QEMU, VFIO_VM_QBOOT; tests/vm/README.md): started
/// paused (<c>-S</c>), never running guest code, with QMP on a unix socket, on the guest's mtty mdevs. Disposing
/// kills a QEMU that is still running and removes its scratch directory.
/// </summary>
internal sealed class InnerQemu : IDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    private readonly StringWriter _log = new();

    /// <summary>The binary in the guest's tmpfs, or null when run-guest.sh provided none.</summary>
    public static string? Binary => Environment.GetEnvironmentVariable("VFIO_VM_QEMU") is { Length: > 0 } q ? q : null;

    /// <summary>Why there is no QEMU in this guest (run-guest.sh's VFIO_VM_QEMU_MISSING).</summary>
    public static string WhyMissing => Environment.GetEnvironmentVariable("VFIO_VM_QEMU_MISSING") is { Length: > 0 } w ? w : "VFIO_VM_QEMU is not set";

    /// <summary>The package version run-guest.sh fetched (Debian's, e.g. 1:10.0.2+ds-2+deb13u1~bpo12+1).</summary>
    public static string? PackageVersion => Environment.GetEnvironmentVariable("VFIO_VM_QEMU_VERSION");

    /// <summary>
    /// The <c>-device</c> arguments of an mtty mdev as QEMU 10 migrates it: <c>x-device-dirty-page-tracking=off</c>
    /// because mtty's DMA-logging report fails (without it a save fails in <c>ram_save_setup</c>).
    /// </summary>
    public static string[] MttyDevice(string uuid, string id, string guestAddress) =>
        new[] { "-device", $"vfio-pci,id={id},sysfsdev=/sys/bus/mdev/devices/{uuid},addr={guestAddress},enable-migration=on,x-device-dirty-page-tracking=off" };

    private Qmp? _qmp;

    private InnerQemu(Process process, string dir)
    {
        _process = process;
        _dir = dir;
    }

    /// <summary>QMP to this QEMU.</summary>
    public Qmp Qmp => _qmp ?? throw new InvalidOperationException("QMP is not connected");

    /// <summary>What QEMU wrote to stdout and stderr so far.</summary>
    public string Log { get { lock (_log) return _log.ToString().Trim(); } }

    /// <summary>
    /// Starts QEMU paused with <paramref name="extra"/> arguments (devices, <c>-incoming defer</c>, ...) and connects
    /// QMP, waiting up to <paramref name="startTimeout"/> (QEMU under TCG inside a TCG guest starts in 2-22 s).
    /// Throws <see cref="InvalidOperationException"/> with what QEMU said when it does not come up.
    /// </summary>
    public static InnerQemu Start(TimeSpan startTimeout, params string[] extra)
    {
        string binary = Binary ?? throw new InvalidOperationException("no QEMU in this guest: " + WhyMissing);
        string qboot = Environment.GetEnvironmentVariable("VFIO_VM_QBOOT") ?? Path.Combine(Path.GetDirectoryName(binary)!, "qboot.rom");
        string dir = Directory.CreateTempSubdirectory("inner-qemu-").FullName;
        string socket = Path.Combine(dir, "qmp.sock");
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "-S", "-nodefaults", "-no-user-config", "-machine", "q35", "-accel", "tcg,tb-size=16", "-m", "32M",
                                  "-display", "none", "-bios", qboot, "-qmp", $"unix:{socket},server=on,wait=off" })
            psi.ArgumentList.Add(a);
        foreach (var a in extra) psi.ArgumentList.Add(a);
        var qemu = new InnerQemu(Process.Start(psi)!, dir);
        qemu._process.OutputDataReceived += (_, e) => qemu.Append(e.Data);
        qemu._process.ErrorDataReceived += (_, e) => qemu.Append(e.Data);
        qemu._process.BeginOutputReadLine();
        qemu._process.BeginErrorReadLine();
        try
        {
            qemu._qmp = Qmp.Connect(socket, qemu._process, startTimeout);
            return qemu;
        }
        catch (Exception e)
        {
            qemu.Dispose();
            throw new InvalidOperationException($"{e.Message}{(qemu.Log.Length > 0 ? "; QEMU said: " + qemu.Log : "")}", e);
        }
    }

    private void Append(string? line)
    {
        if (line is not null) lock (_log) _log.WriteLine(line);
    }

    /// <summary>Sends <c>quit</c> and waits for QEMU to exit; returns its exit code.</summary>
    public int Quit(TimeSpan timeout)
    {
        try { Qmp.Execute("quit"); }
        catch (EndOfStreamException) { } // QEMU may close the socket before its reply
        if (!_process.WaitForExit(timeout)) throw new TimeoutException($"QEMU did not exit within {timeout.TotalSeconds:F0} s of quit");
        return _process.ExitCode;
    }

    /// <summary>Waits for QEMU to exit on its own (a failed incoming migration ends it); its exit code, or null on timeout.</summary>
    public int? WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout) ? _process.ExitCode : null;

    public void Dispose()
    {
        _qmp?.Dispose();
        if (!_process.HasExited) { _process.Kill(); }
        _process.WaitForExit();
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
