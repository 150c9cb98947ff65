namespace VfioMigration.Protocol;

/// <summary>
/// The v1 ↔ v2 correspondence (docs/protocol.md §1.4, §2.3, §3.13): which v1 <c>device_state</c> bit pattern means
/// which <see cref="MigrationState"/>, for devices with and without the NDMA capability.
/// </summary>
internal static class StateCorrespondence
{
    /// <summary>The bits a v1 device is written to reach <paramref name="state"/> (Error is shown, never written).</summary>
    public static V1DeviceStateBits ToV1Bits(MigrationState state) => state switch
    {
        MigrationState.Stop => V1DeviceStateBits.None,
        MigrationState.Running => V1DeviceStateBits.Running,
        MigrationState.StopCopy => V1DeviceStateBits.Saving,
        MigrationState.PreCopy => V1DeviceStateBits.Running | V1DeviceStateBits.Saving,
        MigrationState.Resuming => V1DeviceStateBits.Resuming,
        MigrationState.RunningP2P => V1DeviceStateBits.Ndma | V1DeviceStateBits.Running,
        MigrationState.PreCopyP2P => V1DeviceStateBits.Ndma | V1DeviceStateBits.Running | V1DeviceStateBits.Saving,
        MigrationState.Error => V1DeviceStateBits.Saving | V1DeviceStateBits.Resuming,
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "not a migration state"),
    };

    /// <summary>Classifies bits 0–3 of <paramref name="deviceState"/>; bits 4–31 are reserved and ignored here.</summary>
    public static V1StateClassification Classify(uint deviceState, bool ndmaCapable)
    {
        uint low = deviceState & 0xF;
        bool ndma = (low & (uint)V1DeviceStateBits.Ndma) != 0;
        if (ndma && !ndmaCapable)
            return new(deviceState, V1StateKind.NdmaUnsupported, null);
        // With NDMA set and RUNNING clear, NDMA is redundant: 0x8/0xA/0xC mean 0x0/0x2/0x4.
        uint core = low & 0x7;
        bool running = (core & (uint)V1DeviceStateBits.Running) != 0;
        return core switch
        {
            0x0 => new(deviceState, V1StateKind.Valid, MigrationState.Stop),
            0x1 => new(deviceState, V1StateKind.Valid, ndma ? MigrationState.RunningP2P : MigrationState.Running),
            0x2 => new(deviceState, V1StateKind.Valid, MigrationState.StopCopy),
            0x3 => new(deviceState, V1StateKind.Valid, ndma && running ? MigrationState.PreCopyP2P : MigrationState.PreCopy),
            0x4 => new(deviceState, V1StateKind.Valid, MigrationState.Resuming),
            // The one error encoding is exactly !NDMA|RESUMING|SAVING|!RUNNING; 0xE is merely invalid.
            0x6 when !ndma => new(deviceState, V1StateKind.Error, MigrationState.Error),
            _ => new(deviceState, V1StateKind.Invalid, null),
        };
    }

    /// <summary>Renders the low bits the way administrators read them, e.g. <c>RUNNING, NDMA</c> or <c>STOP</c>.</summary>
    public static string Describe(uint deviceState)
    {
        var names = new List<string>(4);
        if ((deviceState & 0x1) != 0) names.Add("RUNNING");
        if ((deviceState & 0x2) != 0) names.Add("SAVING");
        if ((deviceState & 0x4) != 0) names.Add("RESUMING");
        if ((deviceState & 0x8) != 0) names.Add("NDMA");
        if (names.Count == 0) names.Add("STOP");
        uint reserved = deviceState & ~0xFu;
        if (reserved != 0) names.Add($"reserved 0x{reserved:X}");
        return string.Join(", ", names);
    }
}
