using System.Buffers.Binary;
using System.IO.Pipes;
using Microsoft.Extensions.Logging.Abstractions;
using VfioMigration.Backends.Linux;
using VfioMigration.Drivers;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Tests;

/// <summary>
/// What no kernel here can exercise (a v1 region, a v2 data fd on a real device) goes through the real syscall
/// layer against sparse files and pipes: offsets, widths and errno mapping are still checked.
/// </summary>
public sealed class SyscallLayerTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"vfio-sparse-{Guid.NewGuid():N}");
    private readonly int _fd;

    public SyscallLayerTests()
    {
        _fd = FileDescriptorIo.Open(_file, LibC.O_RDWR | 0x40 /* O_CREAT */);
        Assert.True(_fd >= 0, $"open: {_fd}");
    }

    [Fact]
    public void PositionalIoReachesRegionOffsetsOfASparseFile()
    {
        long region = 9L << 40; // where vfio-pci puts region 9
        var four = new byte[] { 1, 0, 0, 0 };
        Assert.Equal(4, FileDescriptorIo.PositionalWrite(_fd, region, four));
        var back = new byte[8];
        Assert.Equal(4, FileDescriptorIo.PositionalRead(_fd, region, back)); // short read at the end: the caller must notice
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(back));
        Assert.Equal(8, FileDescriptorIo.PositionalWrite(_fd, region + 24, new byte[8]));
        Assert.Equal(8, FileDescriptorIo.PositionalRead(_fd, region + 8, back)); // the hole reads as zeros
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(back));
        Assert.Equal(0, FileDescriptorIo.PositionalRead(_fd, region + 4096, new byte[8])); // past the end: EOF
        Assert.True(new FileInfo(_file).Length > region);
    }

    [Fact]
    public void ErrnosAreMappedNegative()
    {
        Assert.Equal(-Errno.ENOTTY, FileDescriptorIo.Ioctl(_fd, VfioUapi.VFIO_DEVICE_GET_INFO, new byte[24]));
        Assert.Equal(-Errno.EBADF, FileDescriptorIo.Read(-1, new byte[1]));
        Assert.Equal(-Errno.ENOENT, FileDescriptorIo.Open("/nonexistent/vfio/vfio", LibC.O_RDWR));
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        int writeFd = (int)pipe.SafePipeHandle.DangerousGetHandle();
        Assert.Equal(-Errno.ESPIPE, FileDescriptorIo.PositionalWrite(writeFd, 0, new byte[1]));
        Assert.Equal(-Errno.EBADF, FileDescriptorIo.Read(writeFd, new byte[1]));
    }

    [Fact]
    public void TheCdevPathBindsFirstAndReportsWhatIsMissing()
    {
        Assert.Equal(16, LinuxVfioTransport.BindIommufdSize);
        var noIommufd = Assert.Throws<VfioMigrationException>(() => LinuxVfioTransport.OpenCdev("0000:01:00.0", _file, "/nonexistent/dev/iommu"));
        Assert.Contains("iommufd", noIommufd.Message);
        // A regular file answers the bind with ENOTTY: the first ioctl on a cdev is the bind, and its failure is named.
        var bind = Assert.Throws<VfioCallException>(() => LinuxVfioTransport.OpenCdev("0000:01:00.0", _file, _file));
        Assert.Equal(("VFIO_DEVICE_BIND_IOMMUFD", Errno.ENOTTY), (bind.Operation, bind.Errno));
    }

    [Fact]
    public void TheV1DriverUsesTheRegisterOffsetsAndWidthsThroughRealSyscalls()
    {
        using var t = new FileBackedV1Device(_fd);
        BinaryPrimitives.WriteUInt32LittleEndian(t.Scratch, 0x0001_0001); // RUNNING plus a reserved bit
        Assert.Equal(4, FileDescriptorIo.PositionalWrite(_fd, FileBackedV1Device.RegionOffset, t.Scratch.AsSpan(0, 4)));
        using var driver = MigrationDriverFactory.Open(t, NullLoggerFactory.Instance);
        Assert.Equal(MigrationProtocol.V1, driver.Protocol);
        Assert.Equal(MigrationState.Running, driver.GetState());
        driver.RequestState(MigrationState.Stop);
        var stored = new byte[4];
        FileDescriptorIo.PositionalRead(_fd, FileBackedV1Device.RegionOffset, stored);
        Assert.Equal(0x0001_0000u, BinaryPrimitives.ReadUInt32LittleEndian(stored)); // read-modify-write kept bit 16
        Assert.Equal(new[] { (FileBackedV1Device.RegionOffset, 4), (FileBackedV1Device.RegionOffset, 4), (FileBackedV1Device.RegionOffset, 4) },
            t.Accesses.Where(a => a.Offset == FileBackedV1Device.RegionOffset).Take(3));
    }

    [Fact]
    public async Task AV2DataFdIsReadUntilEndOfStreamOverAPipe()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, pipe.ClientSafePipeHandle);
        var payload = Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray();
        var writer = Task.Run(() => { pipe.Write(payload); pipe.Dispose(); });
        using var t = new PipeFdV2Device((int)client.SafePipeHandle.DangerousGetHandle());
        using var driver = MigrationDriverFactory.Open(t, NullLoggerFactory.Instance);
        driver.RequestState(MigrationState.StopCopy);
        var ms = new MemoryStream();
        var buf = new byte[7000];
        SaveReadResult r;
        while (!(r = driver.ReadSaveData(buf)).EndOfStream) ms.Write(buf, 0, r.Bytes);
        await writer;
        Assert.Equal(payload, ms.ToArray());
    }

    [Fact]
    public void DeviceNumbersComeFromStatxForCharacterDevicesOnly()
    {
        Assert.Equal(((uint)1, (uint)3), FileDescriptorIo.DeviceNumber("/dev/null"));
        Assert.Equal(((uint)1, (uint)5), FileDescriptorIo.DeviceNumber("/dev/zero"));
        // A regular file where a cdev should be is not a device (the old struct stat read gave it 0:0).
        Assert.Null(FileDescriptorIo.DeviceNumber(_file));
        Assert.Null(FileDescriptorIo.DeviceNumber("/nonexistent/dev/vfio/devices/vfio0"));
    }

    [Fact]
    public void TheStatxLayoutIsTheUapiOneOnEveryArchitecture()
    {
        // include/uapi/linux/stat.h: stx_mode at 28, stx_rdev_major/minor at 128/132, 256 bytes in all.
        var st = new byte[LibC.StatxSize];
        Assert.Equal(256, st.Length);
        System.Runtime.InteropServices.MemoryMarshal.Write(st.AsSpan(28), (ushort)0x21b6); // S_IFCHR | 0666
        System.Runtime.InteropServices.MemoryMarshal.Write(st.AsSpan(128), 511u);
        System.Runtime.InteropServices.MemoryMarshal.Write(st.AsSpan(132), 7u);
        Assert.Equal((511u, 7u), FileDescriptorIo.CharDeviceNumber(st)!.Value);
        System.Runtime.InteropServices.MemoryMarshal.Write(st.AsSpan(28), (ushort)0x81a4); // S_IFREG | 0644
        Assert.Null(FileDescriptorIo.CharDeviceNumber(st));
    }

    public void Dispose()
    {
        FileDescriptorIo.Close(_fd);
        File.Delete(_file);
    }

    /// <summary>A v1 device whose migration region is a sparse file at vfio-pci's offset for region 9.</summary>
    private sealed class FileBackedV1Device(int fd) : IVfioDeviceTransport
    {
        public const long RegionOffset = 9L << 40;
        public byte[] Scratch { get; } = new byte[8];
        public List<(long Offset, int Width)> Accesses { get; } = new();
        public string Address => "0000:00:00.0";
        public int GetDeviceInfo(Span<byte> info)
        {
            new DeviceInfo(VfioUapi.DeviceFlagPci | VfioUapi.DeviceFlagReset, 10, 5, 0).WriteTo(info);
            return 0;
        }
        public int GetRegionInfo(Span<byte> info)
        {
            uint index = BinaryPrimitives.ReadUInt32LittleEndian(info[8..]);
            if (index != 9) return index < 10 ? Fill(info, new RegionInfo(index, 0, 0, (ulong)index << 40, Array.Empty<RegionCapability>())) : -Errno.EINVAL;
            return Fill(info, new RegionInfo(9, VfioUapi.RegionFlagRead | VfioUapi.RegionFlagWrite, 4096 + 65536, RegionOffset,
                new[] { RegionCapability.Type(VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration) }));
        }
        private static int Fill(Span<byte> info, RegionInfo r) { r.WriteTo(info); return 0; }
        public int Read(long offset, Span<byte> buffer) { Accesses.Add((offset, buffer.Length)); return FileDescriptorIo.PositionalRead(fd, offset, buffer); }
        public int Write(long offset, ReadOnlySpan<byte> buffer) { Accesses.Add((offset, buffer.Length)); return FileDescriptorIo.PositionalWrite(fd, offset, buffer); }
        public int Feature(Span<byte> argument) => -Errno.ENOTTY;
        public IMigrationDataChannel AdoptDataChannel(int dataFd) => throw new InvalidOperationException();
        public int Reset() => 0;
        public void Dispose() { }
    }

    /// <summary>A v2 device whose STOP_COPY data fd is the read end of a pipe.</summary>
    private sealed class PipeFdV2Device(int pipeFd) : IVfioDeviceTransport
    {
        private MigrationState _state = MigrationState.Running;
        public string Address => "0000:00:00.1";
        public int GetDeviceInfo(Span<byte> info) => 0;
        public int GetRegionInfo(Span<byte> info) => -Errno.EINVAL;
        public int Read(long offset, Span<byte> buffer) => -Errno.EINVAL;
        public int Write(long offset, ReadOnlySpan<byte> buffer) => -Errno.EINVAL;
        public int Feature(Span<byte> a)
        {
            uint flags = DeviceFeatureBuffer.Flags(a);
            switch (flags & VfioUapi.FeatureMask)
            {
                case VfioUapi.FeatureMigration: BinaryPrimitives.WriteUInt64LittleEndian(a[8..], 1); return 0;
                case VfioUapi.FeatureMigDataSize: return -Errno.ENOTTY;
                case VfioUapi.FeatureMigDeviceState when (flags & VfioUapi.FeatureGet) != 0:
                    BinaryPrimitives.WriteUInt32LittleEndian(a[8..], (uint)_state); return 0;
                case VfioUapi.FeatureMigDeviceState:
                    var to = (MigrationState)BinaryPrimitives.ReadUInt32LittleEndian(a[8..]);
                    BinaryPrimitives.WriteInt32LittleEndian(a[12..], to == MigrationState.StopCopy ? pipeFd : -1);
                    _state = to;
                    return 0;
                default: return -Errno.ENOTTY;
            }
        }
        public IMigrationDataChannel AdoptDataChannel(int fd) => new NonClosingChannel(fd);
        public int Reset() => 0;
        public void Dispose() { }

        /// <summary>The real fd read path; the pipe stream owns the descriptor, so Dispose leaves it open.</summary>
        private sealed class NonClosingChannel(int fd) : IMigrationDataChannel
        {
            public int Fd => fd;
            public int Read(Span<byte> buffer) => FileDescriptorIo.Read(fd, buffer);
            public int Write(ReadOnlySpan<byte> buffer) => FileDescriptorIo.Write(fd, buffer);
            public int Ioctl(uint request, Span<byte> argument) => FileDescriptorIo.Ioctl(fd, request, argument);
            public void Dispose() { }
        }
    }
}
