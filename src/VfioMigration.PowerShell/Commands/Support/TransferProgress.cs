using System.Diagnostics;
using System.Management.Automation;
using VfioMigration.Operations;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Write-Progress for saves and restores: one activity per device (children of a set activity when there are
/// several), bytes done of the total when known, rate, pre-copy round; a few updates a second; always a
/// Completed record at the end.
/// </summary>
internal sealed class TransferProgress : IProgress<SaveProgress>
{
    private const int ParentId = 0x5646;
    private readonly VfioCmdlet _cmdlet;
    private readonly string _verb;
    private readonly Dictionary<string, (int Id, Stopwatch Clock, long LastWrite)> _devices = new(StringComparer.OrdinalIgnoreCase);
    private readonly bool _set;

    public TransferProgress(VfioCmdlet cmdlet, string verb, IReadOnlyList<string> devices)
    {
        _cmdlet = cmdlet;
        _verb = verb;
        _set = devices.Count > 1;
        for (int i = 0; i < devices.Count; i++) _devices[devices[i]] = (ParentId + 1 + i, Stopwatch.StartNew(), -1);
        if (_set) Write(new ProgressRecord(ParentId, $"{verb} {devices.Count} devices", string.Join(", ", devices)));
    }

    public void Report(SaveProgress value)
    {
        if (!_devices.TryGetValue(value.Device, out var d)) return;
        long now = d.Clock.ElapsedMilliseconds;
        if (d.LastWrite >= 0 && now - d.LastWrite < 250) return;
        _devices[value.Device] = d with { LastWrite = now };
        double seconds = Math.Max(d.Clock.Elapsed.TotalSeconds, 0.001);
        string of = value.TotalBytes is { } t ? $" of {Size(t)}" : "";
        string round = value.Phase == "pre-copy" ? $", round {value.Round}" : "";
        var record = new ProgressRecord(d.Id, $"{_verb} {value.Device}", $"{value.Phase}: {Size(value.Bytes)}{of}, {Size((long)(value.Bytes / seconds))}/s{round}")
        {
            ParentActivityId = _set ? ParentId : -1,
            PercentComplete = value.TotalBytes is { } total && total > 0 ? (int)Math.Clamp(value.Bytes * 100 / total, 0, 100) : -1,
        };
        Write(record);
    }

    /// <summary>
    /// Completed records for every activity, whatever happened, each saying how it ended: "done", or "failed: "
    /// and the error id for a device whose outcome is an error, or "failed" for every device when
    /// <paramref name="outcomes"/> is null (the transfer threw, was stopped or cancelled).
    /// </summary>
    public void Complete(IReadOnlyList<DeviceOutcome>? outcomes)
    {
        int failed = 0;
        foreach (var (address, d) in _devices)
        {
            string status = outcomes is null ? "failed"
                : outcomes.FirstOrDefault(o => string.Equals(o.Address, address, StringComparison.OrdinalIgnoreCase))?.Error is { } e ? $"failed: {e.ErrorId}"
                : "done";
            if (status != "done") failed++;
            Write(new ProgressRecord(d.Id, $"{_verb} {address}", status) { ParentActivityId = _set ? ParentId : -1, RecordType = ProgressRecordType.Completed });
        }
        if (_set)
            Write(new ProgressRecord(ParentId, $"{_verb} {_devices.Count} devices", failed == 0 ? "done" : $"failed: {failed} of {_devices.Count} devices") { RecordType = ProgressRecordType.Completed });
    }

    private void Write(ProgressRecord record)
    {
        try { _cmdlet.WriteProgress(record); }
        catch (PipelineStoppedException e) { _cmdlet.OnPipelineStopped(e); }
    }

    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };
}
