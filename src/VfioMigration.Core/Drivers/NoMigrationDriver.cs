using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Drivers;

/// <summary>A device with neither the v2 MIGRATION feature nor a v1 migration region: every state request says so.</summary>
public sealed class NoMigrationDriver : IDeviceMigration
{
    private readonly Transport.IVfioDeviceTransport _transport;

    private readonly DeviceReset _reset;

    public NoMigrationDriver(Transport.IVfioDeviceTransport transport)
    {
        _transport = transport;
        _reset = new DeviceReset(new Transport.CheckedDeviceCalls(transport));
    }

    public string Address => _transport.Address;
    public MigrationProtocol Protocol => MigrationProtocol.None;
    public Func<string?>? WhatResetLoses { get; set; }
    public string? ResetUnavailable => _reset.Unavailable;
    public MigrationCapabilities Capabilities => MigrationCapabilities.None;

    public static string Explanation =>
        "the device does not support migration: VFIO_DEVICE_FEATURE MIGRATION answers ENOTTY (no v2 support) and no region carries the v1 migration type (3/1). Bind it to a migration-capable variant driver, if one exists for it";

    public MigrationState GetState() =>
        throw new VfioMigrationException($"{Address}: has no migration state to read: {Explanation}.", VfioErrors.MigrationNotSupported, Address);
    public MigrationState ObserveState(out bool leftByAnotherProcess)
    {
        leftByAnotherProcess = false;
        return GetState();
    }
    public uint? ReadRawState() => null;
    public TransitionPlan Plan(MigrationState current, MigrationState target) => TransitionPlan.Refuse(current, target, Explanation + ".");
    public TransitionResult RequestState(MigrationState target, CancellationToken cancellationToken = default) => throw NotSupported(target);
    public SaveReadResult ReadSaveData(Span<byte> buffer) => throw NotSupported(MigrationState.StopCopy);
    public PrecopyInfo? GetPrecopyInfo() => null;
    public ulong? GetStopCopySize() => null;
    public bool ProbeDmaLogging() => false;
    public void WriteResumeData(ReadOnlySpan<byte> data) => throw NotSupported(MigrationState.Resuming);

    public void Reset()
    {
        int rc = _reset.Run();
        if (rc < 0) throw new Transport.VfioCallException(Address, "VFIO_DEVICE_RESET", -rc);
    }

    private VfioMigrationException NotSupported(MigrationState requested) =>
        new($"{Address}: cannot change state to {requested}: {Explanation}.", VfioErrors.MigrationNotSupported, Address);

    public void Dispose() { }
}
