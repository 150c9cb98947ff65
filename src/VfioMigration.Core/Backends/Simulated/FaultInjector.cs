using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// The faults armed on one simulated device. Each rule counts its own matching events and fires once; besides
/// rules, a save stream can be cut short or corrupted and a ccw channel program can be made to never complete.
/// </summary>
public sealed class FaultInjector
{
    private readonly List<(FaultRule Rule, int Seen)> _rules = new();

    /// <summary>A save stream ends (EOF) after this many bytes.</summary>
    public long? TruncateSaveStreamAt { get; set; }
    /// <summary>The save stream byte at this position is flipped (XOR 0xFF).</summary>
    public long? CorruptSaveStreamAt { get; set; }
    /// <summary>The next channel program a ccw device starts never completes.</summary>
    public bool NextChannelProgramHangs { get; set; }

    public IReadOnlyList<FaultRule> Armed => _rules.Select(r => r.Rule).ToArray();

    public void Arm(FaultRule rule)
    {
        if (rule.Nth < 1) throw new ArgumentOutOfRangeException(nameof(rule), rule.Nth, "Nth counts from 1");
        if (rule.Errno <= 0) throw new ArgumentOutOfRangeException(nameof(rule), rule.Errno, "errno must be positive");
        _rules.Add((rule, 0));
    }

    public void Clear()
    {
        _rules.Clear();
        TruncateSaveStreamAt = null;
        CorruptSaveStreamAt = null;
        NextChannelProgramHangs = false;
    }

    /// <summary>Counts an event; returns the rule that fires for it, or null.</summary>
    public FaultRule? Hit(FaultPoint point, MigrationArc? arc = null)
    {
        for (int i = 0; i < _rules.Count; i++)
        {
            var (rule, seen) = _rules[i];
            if (rule.Point != point) continue;
            if (arc is { } a && ((rule.ArcFrom is { } f && f != a.From) || (rule.ArcTo is { } t && t != a.To))) continue;
            if (arc is null && (rule.ArcFrom is not null || rule.ArcTo is not null)) continue;
            seen++;
            if (seen == rule.Nth)
            {
                _rules.RemoveAt(i);
                return rule;
            }
            _rules[i] = (rule, seen);
        }
        return null;
    }

    /// <summary>Counts an event; returns the negated errno to fail with, or 0.</summary>
    public int Check(FaultPoint point) => Hit(point) is { } r ? -r.Errno : 0;
}
