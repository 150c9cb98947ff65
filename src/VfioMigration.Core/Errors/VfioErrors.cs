using System.Reflection;

namespace VfioMigration;

/// <summary>
/// Every error the core and the module report, each id once. Throw sites name an entry here, never an id string.
/// The ids are public contract (scripts match <c>FullyQualifiedErrorId</c>): add ids, never rename one.
/// </summary>
public static class VfioErrors
{
    // ---- migration state changes (Drivers/, Operations/)
    /// <summary>The requested state change is not allowed from where the device is (uAPI FSM, device capabilities); nothing was done.</summary>
    public static readonly VfioError TransitionRefused = new(nameof(TransitionRefused), ErrorKind.Refused);
    /// <summary>An arc of the planned path failed; the message says the state the device is in now.</summary>
    public static readonly VfioError TransitionFailed = new(nameof(TransitionFailed), ErrorKind.DeviceFailure);
    /// <summary>The device is in Error: it takes no state change until it is reset.</summary>
    public static readonly VfioError DeviceInErrorState = new(nameof(DeviceInErrorState), ErrorKind.DeviceFailure, ErrorRemedy.ResetDevice);
    /// <summary>A v2 device found in a save or resume state another process left, and ending that session failed.</summary>
    public static readonly VfioError AbandonedSession = new(nameof(AbandonedSession), ErrorKind.DeviceFailure, ErrorRemedy.ResetDevice);
    /// <summary>Migration data was read or written with no data session of this process open.</summary>
    public static readonly VfioError NoDataSession = new(nameof(NoDataSession), ErrorKind.Refused);
    /// <summary>The device has no migration support (no v1 region, no v2 feature).</summary>
    public static readonly VfioError MigrationNotSupported = new(nameof(MigrationNotSupported), ErrorKind.Refused);
    /// <summary>A live save needs pre-copy, which the device does not offer.</summary>
    public static readonly VfioError PreCopyNotSupported = new(nameof(PreCopyNotSupported), ErrorKind.Refused, ErrorRemedy.SaveStopped);
    /// <summary>The stop-copy stream stopped producing data without reaching its end.</summary>
    public static readonly VfioError SaveStreamStalled = new(nameof(SaveStreamStalled), ErrorKind.Timeout);

    // ---- sets of devices (Operations/DeviceSet*, the -Together cmdlets)
    /// <summary>A device of the set cannot quiesce (no P2P / NDMA), so stopping the set together is unsafe.</summary>
    public static readonly VfioError PeerQuiesceUnsupported = new(nameof(PeerQuiesceUnsupported), ErrorKind.Refused, ErrorRemedy.OverrideQuiesceCheck);
    /// <summary>Not changed: another device of the set failed to quiesce, and the set was returned.</summary>
    public static readonly VfioError PeerQuiesceFailed = new(nameof(PeerQuiesceFailed), ErrorKind.Aborted);
    /// <summary>Not changed: another device of the set cannot take part, so the set is not changed at all.</summary>
    public static readonly VfioError SetRefused = new(nameof(SetRefused), ErrorKind.Aborted);
    /// <summary>Not changed: the user declined a device of the set.</summary>
    public static readonly VfioError SetDeclined = new(nameof(SetDeclined), ErrorKind.Declined);
    /// <summary>Not saved: saving another device of the set failed.</summary>
    public static readonly VfioError SaveAborted = new(nameof(SaveAborted), ErrorKind.Aborted);
    /// <summary>Not restored: restoring another device of the set failed.</summary>
    public static readonly VfioError RestoreAborted = new(nameof(RestoreAborted), ErrorKind.Aborted);
    /// <summary>The image was written, but the device could not be moved to the state asked for afterwards.</summary>
    public static readonly VfioError SavedButNotMoved = new(nameof(SavedButNotMoved), ErrorKind.PartlyDone);
    public static readonly VfioError SaveCancelled = new(nameof(SaveCancelled), ErrorKind.Cancelled);
    public static readonly VfioError RestoreCancelled = new(nameof(RestoreCancelled), ErrorKind.Cancelled);
    /// <summary>Something that loses state needs a confirmation the session cannot ask for (non-interactive).</summary>
    public static readonly VfioError ConfirmationRequired = new(nameof(ConfirmationRequired), ErrorKind.Declined, ErrorRemedy.AnswerWithoutAsking);

    // ---- devices and the host (Backends/, Transport/)
    public static readonly VfioError DeviceNotFound = new(nameof(DeviceNotFound), ErrorKind.NotFound);
    /// <summary>The device exists but is not bound to a VFIO driver, or has no group node or cdev.</summary>
    public static readonly VfioError DeviceNotBound = new(nameof(DeviceNotBound), ErrorKind.Unavailable);
    /// <summary>The device is busy: EBUSY from the kernel, or an operation of this process holds it.</summary>
    public static readonly VfioError DeviceBusy = new(nameof(DeviceBusy), ErrorKind.Busy);
    /// <summary>The device is open (another process, a VM, or this session).</summary>
    public static readonly VfioError DeviceInUse = new(nameof(DeviceInUse), ErrorKind.Busy);
    /// <summary>The device went away during the call (ENODEV).</summary>
    public static readonly VfioError DeviceGone = new(nameof(DeviceGone), ErrorKind.DeviceFailure);
    /// <summary>A uAPI call failed with an errno the caller did not expect.</summary>
    public static readonly VfioError VfioCallFailed = new(nameof(VfioCallFailed), ErrorKind.DeviceFailure);
    /// <summary>EACCES or EPERM, from a device node or a file.</summary>
    public static readonly VfioError PermissionDenied = new(nameof(PermissionDenied), ErrorKind.PermissionDenied);
    /// <summary>The vfio modules, iommufd or /dev/vfio are missing on this host.</summary>
    public static readonly VfioError VfioNotAvailable = new(nameof(VfioNotAvailable), ErrorKind.NotInstalled);
    /// <summary>VFIO_GET_API_VERSION answered a version other than VFIO_API_VERSION (0).</summary>
    public static readonly VfioError VfioApiVersion = new(nameof(VfioApiVersion), ErrorKind.NotInstalled);
    /// <summary>The IOMMU group is not viable: a device in it is bound to a non-VFIO driver.</summary>
    public static readonly VfioError VfioGroupNotViable = new(nameof(VfioGroupNotViable), ErrorKind.Unavailable);
    /// <summary>The conformance check left the device in a state other than the one it started in.</summary>
    public static readonly VfioError DeviceLeftInState = new(nameof(DeviceLeftInState), ErrorKind.DeviceFailure);

    // ---- the simulated host (Backends/Simulated/, the simulator cmdlets)
    public static readonly VfioError DeviceExists = new(nameof(DeviceExists), ErrorKind.Exists);
    public static readonly VfioError InvalidSimulatedDevice = new(nameof(InvalidSimulatedDevice), ErrorKind.InvalidArgument);
    public static readonly VfioError PeerNotFound = new(nameof(PeerNotFound), ErrorKind.NotFound);
    public static readonly VfioError PeerNotPci = new(nameof(PeerNotPci), ErrorKind.InvalidArgument);
    public static readonly VfioError InvalidFault = new(nameof(InvalidFault), ErrorKind.InvalidArgument);
    /// <summary>An operation for simulated devices only was asked of the real host.</summary>
    public static readonly VfioError NotSimulated = new(nameof(NotSimulated), ErrorKind.Refused);

    // ---- arguments the module checks
    public static readonly VfioError InvalidDeviceName = new(nameof(InvalidDeviceName), ErrorKind.InvalidArgument);
    public static readonly VfioError InvalidParameterCombination = new(nameof(InvalidParameterCombination), ErrorKind.InvalidArgument);
    /// <summary>A parameter's value is outside what the parameter takes (empty, out of range, not one of its names).</summary>
    public static readonly VfioError InvalidParameterValue = new(nameof(InvalidParameterValue), ErrorKind.InvalidArgument);
    public static readonly VfioError PeerWithSeveralDevices = new(nameof(PeerWithSeveralDevices), ErrorKind.InvalidArgument);
    public static readonly VfioError PeerIsDevice = new(nameof(PeerIsDevice), ErrorKind.InvalidArgument);
    /// <summary>The module's conformance suite file is missing from its folder.</summary>
    public static readonly VfioError ConformanceSuiteMissing = new(nameof(ConformanceSuiteMissing), ErrorKind.NotFound);

    // ---- image files (Images/)
    /// <summary>The image is damaged or not an image; <c>StateImageException.Field</c> names what is wrong.</summary>
    public static readonly VfioError ImageInvalid = new(nameof(ImageInvalid), ErrorKind.InvalidData);
    public static readonly VfioError ImageChecksumMismatch = new(nameof(ImageChecksumMismatch), ErrorKind.InvalidData);
    public static readonly VfioError ImageTruncated = new(nameof(ImageTruncated), ErrorKind.InvalidData);
    public static readonly VfioError ImageVersionUnsupported = new(nameof(ImageVersionUnsupported), ErrorKind.InvalidData);
    /// <summary>The images of one set disagree about the set (member lists, two images for one place).</summary>
    public static readonly VfioError ImageSetMismatch = new(nameof(ImageSetMismatch), ErrorKind.InvalidData);
    /// <summary>The image was saved from a device that differs from the target (identity or protocol).</summary>
    public static readonly VfioError ImageDeviceMismatch = new(nameof(ImageDeviceMismatch), ErrorKind.InvalidArgument);
    /// <summary>Images saved as one set are given without some of their members.</summary>
    public static readonly VfioError ImageSetIncomplete = new(nameof(ImageSetIncomplete), ErrorKind.InvalidArgument, ErrorRemedy.OverrideSetCheck);
    /// <summary>A set's images are given in an order that does not match the devices (addresses, function numbers, or the links between members).</summary>
    public static readonly VfioError ImageSetOrder = new(nameof(ImageSetOrder), ErrorKind.InvalidArgument, ErrorRemedy.OverrideSetCheck);
    /// <summary>Two devices would be saved to the same file.</summary>
    public static readonly VfioError ImagePathConflict = new(nameof(ImagePathConflict), ErrorKind.InvalidArgument);
    /// <summary>One device is named more than once in one set (a -Together save or state change).</summary>
    public static readonly VfioError DeviceListedTwice = new(nameof(DeviceListedTwice), ErrorKind.InvalidArgument);
    /// <summary>One device is the target of more than one image.</summary>
    public static readonly VfioError RestoreTargetConflict = new(nameof(RestoreTargetConflict), ErrorKind.InvalidArgument);
    /// <summary>The number of images or paths does not match the number of devices.</summary>
    public static readonly VfioError ImageCountMismatch = new(nameof(ImageCountMismatch), ErrorKind.InvalidArgument);
    public static readonly VfioError ImagePathInvalid = new(nameof(ImagePathInvalid), ErrorKind.InvalidArgument);
    /// <summary>The lock file's name next to an image is taken by something a save did not make (a FIFO, another user's file).</summary>
    public static readonly VfioError ImageLockUnsafe = new(nameof(ImageLockUnsafe), ErrorKind.Security);
    /// <summary>A pattern that must name one file (a source to export) matches several.</summary>
    public static readonly VfioError ImagePathAmbiguous = new(nameof(ImagePathAmbiguous), ErrorKind.InvalidArgument);
    public static readonly VfioError ImagePathIsDirectory = new(nameof(ImagePathIsDirectory), ErrorKind.InvalidArgument);
    /// <summary>The path names something other than a regular file (device node, FIFO, socket, ...).</summary>
    public static readonly VfioError ImageNotRegularFile = new(nameof(ImageNotRegularFile), ErrorKind.InvalidArgument);
    /// <summary>The path is on a PowerShell provider other than the file system.</summary>
    public static readonly VfioError NotAFileSystemPath = new(nameof(NotAFileSystemPath), ErrorKind.InvalidArgument);
    public static readonly VfioError ImageExists = new(nameof(ImageExists), ErrorKind.Exists, ErrorRemedy.ReplaceFile);
    public static readonly VfioError ImageNotFound = new(nameof(ImageNotFound), ErrorKind.NotFound);
    public static readonly VfioError ImageDirectoryNotFound = new(nameof(ImageDirectoryNotFound), ErrorKind.NotFound);
    /// <summary>Another save to the same file holds its lock.</summary>
    public static readonly VfioError ImageBusy = new(nameof(ImageBusy), ErrorKind.Busy);
    /// <summary>ENOSPC or EDQUOT while writing.</summary>
    public static readonly VfioError DiskFull = new(nameof(DiskFull), ErrorKind.WriteFailed);
    public static readonly VfioError ImageWriteFailed = new(nameof(ImageWriteFailed), ErrorKind.WriteFailed);
    public static readonly VfioError ImageReadFailed = new(nameof(ImageReadFailed), ErrorKind.ReadFailed);

    // ---- QEMU migration streams and libvirt save files (Qemu/, Libvirt/)
    /// <summary>A QEMU stream's framing is damaged or not QEMU's; the message names the offset and field.</summary>
    public static readonly VfioError QemuStreamInvalid = new(nameof(QemuStreamInvalid), ErrorKind.InvalidData);
    /// <summary>A QEMU stream ends before its end-of-stream marker or its JSON description.</summary>
    public static readonly VfioError QemuStreamTruncated = new(nameof(QemuStreamTruncated), ErrorKind.InvalidData);
    /// <summary>A QEMU stream or save file in a layout this module does not read (mapped-ram, lzop, another version).</summary>
    public static readonly VfioError QemuStreamUnsupported = new(nameof(QemuStreamUnsupported), ErrorKind.InvalidData);
    /// <summary>The VFIO section asked for is not in the stream, or the stream has several and none was named.</summary>
    public static readonly VfioError QemuSectionNotFound = new(nameof(QemuSectionNotFound), ErrorKind.InvalidArgument);
    /// <summary>A template stream's VFIO section does not fit the device state to be written into it.</summary>
    public static readonly VfioError QemuTemplateMismatch = new(nameof(QemuTemplateMismatch), ErrorKind.InvalidArgument);
    /// <summary>A libvirt save file's header is damaged (magic, version, lengths, compression format).</summary>
    public static readonly VfioError LibvirtSaveInvalid = new(nameof(LibvirtSaveInvalid), ErrorKind.InvalidData);

    // ---- the audit log (Operations/AuditLog)
    /// <summary>The audit log cannot be opened or written; nothing was changed.</summary>
    public static readonly VfioError AuditLogUnavailable = new(nameof(AuditLogUnavailable), ErrorKind.WriteFailed);
    /// <summary>The audit log is refused as unsafe (a symbolic link, another owner, open permissions); nothing was changed.</summary>
    public static readonly VfioError AuditLogUnsafe = new(nameof(AuditLogUnsafe), ErrorKind.Security);

    /// <summary>Every entry, in the order above. (Declared last: static fields initialise in text order.)</summary>
    public static IReadOnlyList<VfioError> All { get; } = typeof(VfioErrors)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.FieldType == typeof(VfioError))
        .Select(f => (VfioError)f.GetValue(null)!)
        .ToArray();
}
