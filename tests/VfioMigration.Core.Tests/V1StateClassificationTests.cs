using VfioMigration.Protocol;
using static VfioMigration.Protocol.MigrationState;

namespace VfioMigration.Tests;

/// <summary>All 16 combinations of bits 0–3, with and without the NDMA capability (docs/protocol.md §1.4).</summary>
public class V1StateClassificationTests
{
    // Kinds by name: V1StateKind is internal to Core, and a public theory cannot take it as a parameter.
    public static TheoryData<uint, string, MigrationState?, string, MigrationState?> Table => new()
    {
        // value, kind with NDMA, state with NDMA, kind without NDMA, state without NDMA
        { 0x0, nameof(V1StateKind.Valid), Stop, nameof(V1StateKind.Valid), Stop },
        { 0x1, nameof(V1StateKind.Valid), Running, nameof(V1StateKind.Valid), Running },
        { 0x2, nameof(V1StateKind.Valid), StopCopy, nameof(V1StateKind.Valid), StopCopy },
        { 0x3, nameof(V1StateKind.Valid), PreCopy, nameof(V1StateKind.Valid), PreCopy },
        { 0x4, nameof(V1StateKind.Valid), Resuming, nameof(V1StateKind.Valid), Resuming },
        { 0x5, nameof(V1StateKind.Invalid), null, nameof(V1StateKind.Invalid), null },
        { 0x6, nameof(V1StateKind.Error), Error, nameof(V1StateKind.Error), Error },
        { 0x7, nameof(V1StateKind.Invalid), null, nameof(V1StateKind.Invalid), null },
        { 0x8, nameof(V1StateKind.Valid), Stop, nameof(V1StateKind.NdmaUnsupported), null },
        { 0x9, nameof(V1StateKind.Valid), RunningP2P, nameof(V1StateKind.NdmaUnsupported), null },
        { 0xA, nameof(V1StateKind.Valid), StopCopy, nameof(V1StateKind.NdmaUnsupported), null },
        { 0xB, nameof(V1StateKind.Valid), PreCopyP2P, nameof(V1StateKind.NdmaUnsupported), null },
        { 0xC, nameof(V1StateKind.Valid), Resuming, nameof(V1StateKind.NdmaUnsupported), null },
        { 0xD, nameof(V1StateKind.Invalid), null, nameof(V1StateKind.NdmaUnsupported), null },
        { 0xE, nameof(V1StateKind.Invalid), null, nameof(V1StateKind.NdmaUnsupported), null },
        { 0xF, nameof(V1StateKind.Invalid), null, nameof(V1StateKind.NdmaUnsupported), null },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void EveryCombinationIsClassified(uint value, string kindNdma, MigrationState? stateNdma, string kindPlain, MigrationState? statePlain)
    {
        var withNdma = StateCorrespondence.Classify(value, ndmaCapable: true);
        var without = StateCorrespondence.Classify(value, ndmaCapable: false);
        Assert.Equal((kindNdma, stateNdma), (withNdma.Kind.ToString(), withNdma.State));
        Assert.Equal((kindPlain, statePlain), (without.Kind.ToString(), without.State));
        // Reserved bits 4–31 never change the meaning of the low four.
        Assert.Equal(withNdma.Kind, StateCorrespondence.Classify(value | 0xABC0, true).Kind);
    }

    [Fact]
    public void TheErrorEncodingIsWrittenInOnePlaceAndIsSixOnly() =>
        Assert.Equal(0x6u, (uint)StateCorrespondence.ToV1Bits(Error));

    [Theory]
    [InlineData(Stop, 0x0u)]
    [InlineData(Running, 0x1u)]
    [InlineData(StopCopy, 0x2u)]
    [InlineData(PreCopy, 0x3u)]
    [InlineData(Resuming, 0x4u)]
    [InlineData(RunningP2P, 0x9u)]
    [InlineData(PreCopyP2P, 0xBu)]
    public void V1AndV2CorrespondBothWays(MigrationState state, uint bits)
    {
        Assert.Equal(bits, (uint)StateCorrespondence.ToV1Bits(state));
        Assert.Equal(state, StateCorrespondence.Classify(bits, ndmaCapable: true).State);
    }

    [Theory]
    [InlineData(0x9u, "RUNNING, NDMA")]
    [InlineData(0x0u, "STOP")]
    [InlineData(0x13u, "RUNNING, SAVING, reserved 0x10")]
    public void BitsAreDescribedTheWayAdministratorsReadThem(uint value, string text) =>
        Assert.Equal(text, StateCorrespondence.Describe(value));

    [Fact]
    public void RegisterBlockLayoutIsTheKernelStruct()
    {
        Assert.Equal(32, MigrationRegionLayout.RegisterBlockSize);
        Assert.Equal(4, MigrationRegionLayout.WidthAt(0));
        Assert.Equal(4, MigrationRegionLayout.WidthAt(4));
        Assert.Equal(8, MigrationRegionLayout.WidthAt(8));
        Assert.Equal(8, MigrationRegionLayout.WidthAt(16));
        Assert.Equal(8, MigrationRegionLayout.WidthAt(24));
        Assert.Null(MigrationRegionLayout.WidthAt(12));
    }
}
