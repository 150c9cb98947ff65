using CsCheck;
using VfioMigration.Images;

namespace VfioMigration.Tests;

/// <summary>
/// The image writer's way to the disk: small writes are gathered, device-data-sized ones go from the caller's memory
/// in one pwritev with what was gathered before them. Whatever the mix, the file holds exactly the bytes written, in
/// order, and every write to it but the last is whole pages from a page boundary.
/// </summary>
public sealed class ImageWritePathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vfio-write-path-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(0, 5)]
    [InlineData(5, 0)]
    [InlineData(7, 3 << 20)]
    [InlineData(1 << 20, (1 << 20) + 3)]
    public void Pwritev_writes_both_parts_as_one_run_at_the_offset(int first, int second)
    {
        var path = Path.Combine(_dir, "v.bin");
        var a = Bytes(first, 1);
        var b = Bytes(second, 2);
        int fd = PosixFile.Open(path, PosixFile.OWrOnly | PosixFile.OCreat, 0x180);
        Assert.True(fd >= 0, $"open: errno {-fd}");
        try
        {
            Assert.Equal(0, PosixFile.WriteAll(fd, a, b, 11));
        }
        finally { PosixFile.CloseQuietly(fd); }
        var file = File.ReadAllBytes(path);
        Assert.Equal(11 + first + second, file.Length);
        Assert.Equal(new byte[11], file[..11]);
        Assert.Equal(a, file[11..(11 + first)]);
        Assert.Equal(b, file[(11 + first)..]);
    }

    [Fact]
    public void Any_mix_of_gathered_and_direct_writes_lands_in_order()
    {
        var size = Gen.OneOf(Gen.Int[1, 100], Gen.OneOfConst((64 << 10) - 1, 80 << 10, (256 << 10) - 1, 256 << 10, (1 << 20) - 4, 1 << 20, (1 << 20) + 3, 3 << 20));
        size.Array[1, 12].Sample(sizes =>
        {
            var path = Path.Combine(_dir, "mix.vfiostate");
            var expected = new MemoryStream();
            var writes = new List<(long Offset, long Length)>();
            AtomicFile.WroteForTests.Value = (offset, length) => writes.Add((offset, length));
            using (var file = AtomicFile.Create(path, overwrite: true))
            {
                for (int i = 0; i < sizes.Length; i++)
                {
                    var data = Bytes(sizes[i], i + 1);
                    file.Stream.Write(data);
                    expected.Write(data);
                }
                Assert.Equal(expected.Length, file.Length);
                file.Commit();
            }
            AtomicFile.WroteForTests.Value = null;
            Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
            // One run of bytes, in order, each write but the last whole pages from a page boundary (no page is
            // written, and written back, twice).
            Assert.Equal(expected.Length, writes.Sum(w => w.Length));
            for (int i = 0; i < writes.Count; i++)
            {
                Assert.Equal(writes.Take(i).Sum(w => w.Length), writes[i].Offset);
                if (i < writes.Count - 1) Assert.True(writes[i].Offset % 4096 == 0 && writes[i].Length % 4096 == 0, $"write {i} of {writes.Count}: {writes[i]}");
            }
        }, iter: 60, threads: 1);
    }

    private static byte[] Bytes(int count, int seed)
    {
        var b = new byte[count];
        new Random(seed).NextBytes(b);
        return b;
    }
}
