using Microsoft.Extensions.Logging;
using VfioMigration.Protocol;

namespace VfioMigration.Logging;

/// <summary>
/// Every log line the core writes. Each event has a name (the method's) that listeners filter by, and a stable
/// number (1000–1099: state changes, 1100–: probing, 1200–: audit and save warnings) for log sinks that index by id.
/// </summary>
public static partial class CoreLog
{
    [LoggerMessage(EventId = 1000, EventName = nameof(TransitionPlanned), Level = LogLevel.Debug, Message = "{Device}: planned {From} -> {To}: {Path}")]
    public static partial void TransitionPlanned(ILogger logger, string device, MigrationState from, MigrationState to, string path);

    [LoggerMessage(EventId = 1001, EventName = nameof(ArcDone), Level = LogLevel.Information, Message = "{Device}: arc {Arc} done")]
    public static partial void ArcDone(ILogger logger, string device, string arc);

    [LoggerMessage(EventId = 1002, EventName = nameof(TransitionCompleted), Level = LogLevel.Information, Message = "{Device}: state {From} -> {To} via {Arcs}: {Result}")]
    public static partial void TransitionCompleted(ILogger logger, string device, MigrationState from, MigrationState to, string arcs, string result);

    [LoggerMessage(EventId = 1003, EventName = nameof(TransitionFailed), Level = LogLevel.Warning, Message = "{Device}: state {From} -> {To} failed at arc {Arc} ({Error}); arcs done: {Arcs}; device now {Now}")]
    public static partial void TransitionFailed(ILogger logger, string device, MigrationState from, MigrationState to, string arc, string error, string arcs, string now);

    [LoggerMessage(EventId = 1004, EventName = nameof(TransitionRefused), Level = LogLevel.Warning, Message = "{Device}: state {From} -> {To} refused: {Reason}")]
    public static partial void TransitionRefused(ILogger logger, string device, MigrationState from, MigrationState to, string reason);

    [LoggerMessage(EventId = 1005, EventName = nameof(DeviceReset), Level = LogLevel.Information, Message = "{Device}: device reset; state {From} -> Running: {Result}")]
    public static partial void DeviceReset(ILogger logger, string device, string from, string result);

    [LoggerMessage(EventId = 1006, EventName = nameof(V1StateWrite), Level = LogLevel.Trace, Message = "{Device}: v1 device_state 0x{Before:X} -> write 0x{Written:X}")]
    public static partial void V1StateWrite(ILogger logger, string device, uint before, uint written);

    [LoggerMessage(EventId = 1007, EventName = nameof(QuiesceOverridden), Level = LogLevel.Warning, Message = "{Warning}")]
    public static partial void QuiesceOverridden(ILogger logger, string warning);

    [LoggerMessage(EventId = 1008, EventName = nameof(AbandonedSessionEnded), Level = LogLevel.Warning, Message = "{Device}: found in {Found} with no migration data fd of this process (a session another process left); {Action}; the device is now in {Now}")]
    public static partial void AbandonedSessionEnded(ILogger logger, string device, MigrationState found, string action, string now);

    [LoggerMessage(EventId = 1100, EventName = nameof(ProtocolDetected), Level = LogLevel.Debug, Message = "{Device}: migration protocol {Protocol}, capabilities {Capabilities}")]
    public static partial void ProtocolDetected(ILogger logger, string device, MigrationProtocol protocol, MigrationCapabilities capabilities);

    [LoggerMessage(EventId = 1101, EventName = nameof(SaveRead), Level = LogLevel.Debug, Message = "{Device}: save session read {Bytes} bytes")]
    public static partial void SaveRead(ILogger logger, string device, int bytes);

    [LoggerMessage(EventId = 1102, EventName = nameof(PrecopyInfoV2), Level = LogLevel.Debug, Message = "{Device}: PRECOPY_INFOv2 opt-in (feature 12): {Result}")]
    public static partial void PrecopyInfoV2(ILogger logger, string device, string result);

    [LoggerMessage(EventId = 1103, EventName = nameof(PreCopyReinit), Level = LogLevel.Information, Message = "{Device}: the device re-initialized its pre-copy data (VFIO_PRECOPY_INFO_REINIT): {InitialBytes} initial bytes again")]
    public static partial void PreCopyReinit(ILogger logger, string device, ulong initialBytes);

    [LoggerMessage(EventId = 1200, EventName = nameof(AuditNotRecorded), Level = LogLevel.Warning, Message = "{Problem}")]
    public static partial void AuditNotRecorded(ILogger logger, string problem);

    [LoggerMessage(EventId = 1201, EventName = nameof(SaveWarning), Level = LogLevel.Warning, Message = "{Warning}")]
    public static partial void SaveWarning(ILogger logger, string warning);
}
