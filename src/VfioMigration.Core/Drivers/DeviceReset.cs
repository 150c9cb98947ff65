using VfioMigration.Protocol;
using VfioMigration.Transport;

namespace VfioMigration.Drivers;

/// <summary>
/// VFIO_DEVICE_RESET for one open device, and whether it can still help: a device whose VFIO_DEVICE_GET_INFO lacks
/// VFIO_DEVICE_FLAGS_RESET has no reset the kernel can use (vfio_pci_core: no FLR, PM or bus reset; the ioctl then
/// answers EINVAL), and one whose last reset failed cannot be counted on to leave Error by another. Every driver
/// resets through this, so that what an error or a readiness check recommends agrees with what was tried.
/// </summary>
internal sealed class DeviceReset
{
    private readonly CheckedDeviceCalls _calls;
    private bool? _offered;
    private string? _failed;

    public DeviceReset(CheckedDeviceCalls calls) => _calls = calls;

    /// <summary>The sentence-part saying why no VFIO reset can help now, or null when one may.</summary>
    public string? Unavailable
    {
        get
        {
            if (_failed is not null) return _failed;
            _offered ??= Offered();
            return _offered == false ? NoResetMethod : null;
        }
    }

    /// <summary>Runs VFIO_DEVICE_RESET; returns 0 or the negated errno, and remembers a failure.</summary>
    public int Run()
    {
        int rc = _calls.Transport.Reset();
        _failed = rc < 0 ? $"the VFIO_DEVICE_RESET tried last failed ({Errno.Name(-rc)})" : null;
        return rc;
    }

    /// <summary>The device offers no reset method: what VFIO_DEVICE_GET_INFO says.</summary>
    public const string NoResetMethod = "the device has no reset method the kernel can use (VFIO_DEVICE_GET_INFO does not set VFIO_DEVICE_FLAGS_RESET: no FLR, PM reset or bus reset)";

    /// <summary>
    /// What can still bring back a device no VFIO reset can help: the driver's own start of a device (most variant
    /// drivers begin every open in Running; mtty keeps its state), a rebind, or the host. Names no cmdlet.
    /// </summary>
    public const string WhatIsLeft = "what is left is to close the device and open it again (most variant drivers start every open in Running), to unbind and rebind its driver, or to restart the host";

    private bool Offered()
    {
        // An info call that fails says nothing about the reset: let a reset be tried and answer for itself.
        try { return _calls.GetDeviceInfo().CanReset; }
        catch (VfioMigrationException) { return true; }
    }
}
