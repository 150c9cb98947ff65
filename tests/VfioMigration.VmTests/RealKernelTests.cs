using System.Diagnostics;
using System.Reflection;
using Xunit.Abstractions;

namespace VfioMigration.VmTests;

/// <summary>
/// The project's discovery and Linux transport against a real kernel: tests/vm/run-guest.sh boots a Debian guest
/// under QEMU with QEMU's edu devices bound to vfio-pci behind an emulated Intel IOMMU and runs
/// tests/vm/VfioMigration.VmChecks in it. Skipped, saying why, only where QEMU cannot run.
/// </summary>
public sealed class RealKernelTests(ITestOutputHelper output)
{
    private static string Metadata(string key) => typeof(RealKernelTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    private static string? WhyQemuCannotRun()
    {
        if (!OperatingSystem.IsLinux()) return "the guest tests need Linux";
        if (!RuntimeInformationIsX64()) return "the guest tests need an x86_64 host";
        foreach (var tool in new[] { "qemu-system-x86_64", "cpio", "modinfo", "apt-get" })
            if (!(Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin:/sbin").Split(':').Any(p => p.Length > 0 && File.Exists(Path.Combine(p, tool))))
                return $"{tool} is not installed (.ci/run installs it: apt-get install qemu-system-x86 xz-utils cpio kmod)";
        return null;
    }

    private static bool RuntimeInformationIsX64() => System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.X64;

    [SkippableFact]
    public void TheProjectDrivesRealVfioDevicesInTheGuest()
    {
        string? why = WhyQemuCannotRun();
        Skip.If(why is not null, $"real-kernel guest tests skipped: {why}");
        var payload = Path.GetFullPath(Metadata("VmChecks"));
        Assert.True(File.Exists(Path.Combine(payload, "VfioMigration.VmChecks.dll")), $"the guest checks were not built into {payload}");
        var psi = new ProcessStartInfo("bash", new[] { Metadata("Harness"), payload, "dotnet", "VfioMigration.VmChecks.dll" })
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(10)), "the guest did not finish in 10 minutes");
        output.WriteLine(stdout);
        output.WriteLine(stderr.Result);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(p.ExitCode == 0, $"guest exit {p.ExitCode}:\n{stdout}\n{stderr.Result}");
        Assert.DoesNotContain(lines, l => l.StartsWith("FAIL", StringComparison.Ordinal));
        var summary = Assert.Single(lines, l => l.StartsWith("vm-checks:", StringComparison.Ordinal));
        Assert.Matches(@"^vm-checks: (2[0-9]|[3-9][0-9]) passed, 0 failed$", summary);
        Assert.Contains(lines, l => l.Contains("config space reads 1234:11e8"));
        Assert.Contains(lines, l => l.Contains("reset succeeds"));
        Assert.Contains(lines, l => l.Contains("reset fails clearly"));
        Assert.Contains(lines, l => l.StartsWith("ok   Get-VfioDevice lists the edu devices", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ok   Set-VfioDeviceState on a device without migration", StringComparison.Ordinal));
    }
}
