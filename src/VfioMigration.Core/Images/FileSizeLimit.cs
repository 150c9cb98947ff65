using System.Runtime.InteropServices;

namespace VfioMigration.Images;

/// <summary>
/// A write past the process's file size limit (RLIMIT_FSIZE, <c>ulimit -f</c>) sends it SIGXFSZ, whose default
/// action ends the process at once (signal(7)): the save never got to clean up, and its <c>.partial</c> and lock
/// files stayed. With the signal handled, the write fails with EFBIG instead (write(2)), which the image writer
/// reports and cleans up after like any failed write. Handled once per process, from the first image file opened
/// for writing on; handling it changes nothing else, since the write that raised it fails either way.
/// </summary>
internal static class FileSizeLimit
{
    /// <summary>SIGXFSZ on Linux (x86-64, arm64): include/uapi/asm-generic/signal.h.</summary>
    private const int SigXfsz = 25;
    private static readonly Lazy<PosixSignalRegistration?> Registration = new(Register);

    /// <summary>Makes SIGXFSZ harmless to this process (idempotent; never throws).</summary>
    public static void HandleSignal() => _ = Registration.Value;

    private static PosixSignalRegistration? Register()
    {
        try
        {
            return PosixSignalRegistration.Create((PosixSignal)SigXfsz, context => context.Cancel = true);
        }
        catch (Exception e) when (e is PlatformNotSupportedException or IOException or ArgumentOutOfRangeException)
        {
            return null; // no handler: a write past the limit still ends the process, as it did before
        }
    }
}
