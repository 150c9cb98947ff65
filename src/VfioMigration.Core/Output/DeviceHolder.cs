namespace VfioMigration;

/// <summary>
/// A process that holds a VFIO device open, as /proc shows it: its pid, its command, the VM it runs when it is a
/// QEMU started with <c>-name</c> (libvirt's <c>-name guest=NAME,debug-threads=on</c> included), and how it holds
/// the device (<see cref="Through"/>).
/// </summary>
public sealed record DeviceHolder
{
    public required int ProcessId { get; init; }
    /// <summary>The process's name (/proc/PID/comm), e.g. qemu-system-x86 (the kernel keeps 15 characters).</summary>
    public required string Command { get; init; }
    /// <summary>The VM's name from QEMU's -name option; null for another process or a QEMU without one.</summary>
    public string? VmName { get; init; }
    /// <summary>
    /// What it has open: a device fd naming this device in its fdinfo (<c>vfio-device-syspath</c>, kernel 6.18+),
    /// the device's cdev (<c>/dev/vfio/devices/vfioN</c>), or its IOMMU group (<c>/dev/vfio/N</c>: a group holds every
    /// device in it).
    /// </summary>
    public required string Through { get; init; }

    /// <summary>"qemu-system-x86 (pid 4242, VM web1)" — what the in-use messages and the view show.</summary>
    public override string ToString() => VmName is { } vm ? $"{Command} (pid {ProcessId}, VM {vm})" : $"{Command} (pid {ProcessId})";
}
