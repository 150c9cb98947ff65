using System.Buffers.Binary;
using VfioMigration.Images;

namespace VfioMigration.Qemu;

/// <summary>
/// Writes a copy of a template stream QEMU wrote with one VFIO section's device data replaced, every other byte
/// as the template has it: the section's data chunks (DEV_DATA_STATE, be64 size, bytes) are left out of its
/// pre-copy and stop-copy parts, and the new data goes into its stop-copy part, right before that part's
/// END_OF_STATE, as chunks of the sizes it is fed in. QEMU writes all of a device's chunks into its data fd in
/// order while it resumes, so where the bytes sit (pre-copy or stop-copy) and how they are cut does not matter
/// to the device (docs/qemu-stream.md, "Writing for QEMU"). Nothing else in the stream records an offset or a
/// length that the change moves: the JSON description sizes only non-iterable sections, and the VFIO config
/// part is copied as it is.
/// </summary>
internal static class QemuStreamSplicer
{
    /// <param name="template">The template file.</param>
    /// <param name="streamOffset">Where its QEMU stream starts (a libvirt header and XML before it are copied as they are).</param>
    /// <param name="section">The template's section as the walk found it (offsets are in the QEMU stream).</param>
    /// <param name="feed">Writes the new device data, in order, into the handler it is given.</param>
    /// <param name="output">Where the new stream goes.</param>
    /// <param name="cancellationToken">Stops the copy.</param>
    /// <returns>The new data's length.</returns>
    public static long Splice(string template, long streamOffset, QemuVfioSection section, Action<ChunkHandler, CancellationToken> feed, Stream output, CancellationToken cancellationToken)
    {
        if (section.StopCopyEndOfState < 0) throw new InvalidOperationException("the section has no stop-copy part to write into");
        using var input = ImageFile.OpenRead(template);
        long position = 0;
        foreach (var frame in section.Frames.OrderBy(f => f.Offset))
        {
            Copy(input, output, streamOffset + frame.Offset - position, cancellationToken);
            input.Seek(frame.FrameLength, SeekOrigin.Current);
            position = streamOffset + frame.Offset + frame.FrameLength;
        }
        Copy(input, output, streamOffset + section.StopCopyEndOfState - position, cancellationToken);
        long written = 0;
        var frameHead = new byte[16];
        feed(chunk =>
        {
            if (chunk.IsEmpty) return;
            BinaryPrimitives.WriteUInt64BigEndian(frameHead, QemuStreamFormat.VfioDevDataState);
            BinaryPrimitives.WriteUInt64BigEndian(frameHead.AsSpan(8), (ulong)chunk.Length);
            output.Write(frameHead);
            output.Write(chunk);
            written += chunk.Length;
        }, cancellationToken);
        input.CopyTo(output);
        return written;
    }

    private static void Copy(Stream input, Stream output, long count, CancellationToken cancellationToken)
    {
        var buffer = new byte[(int)Math.Clamp(count, 1, 1 << 20)];
        while (count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = input.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (n == 0) throw new QemuStreamException(input is FileStream f ? f.Name : "template", "the template became shorter while it was being copied.", VfioErrors.QemuStreamTruncated);
            output.Write(buffer, 0, n);
            count -= n;
        }
    }
}
