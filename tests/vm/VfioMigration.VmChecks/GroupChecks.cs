using VfioMigration;
using VfioMigration.Backends.Linux;
using VfioMigration.Operations;

/// <summary>Two functions of one multifunction device in one IOMMU group: one session opens both.</summary>
internal static class GroupChecks
{
    public static void Run(Action<string, Func<string?>> check, DeviceIdentity[] pair)
    {
        check("the two functions of the multifunction device share one IOMMU group", () =>
            pair.Length == 2 && pair[0].IommuGroup is { } g && pair[1].IommuGroup == g && pair[0].GroupNode == pair[1].GroupNode && pair[0].GroupNode is not null
                ? null : string.Join("; ", pair.Select(d => $"{d.Address} group {d.IommuGroup} node {d.GroupNode}")));
        if (pair.Length != 2) return;

        check("one session opens both functions of one group through one group fd and container", () =>
        {
            var backend = new LinuxBackend();
            using var session = new VfioHostSession(backend);
            session.Hold(pair.Select(d => d.Address));
            var a = (LinuxVfioTransport)session.Transport(pair[0].Address);
            var b = (LinuxVfioTransport)session.Transport(pair[1].Address);
            return a.Group is not null && ReferenceEquals(a.Group, b.Group) && a.Group.References == 2 && backend.OpenGroups.Count == 1
                && a.DeviceFd >= 0 && b.DeviceFd >= 0 && a.DeviceFd != b.DeviceFd
                ? null : $"groups {backend.OpenGroups.Count}, refs {a.Group?.References}";
        });

        check("while one session holds the group, another (a second process) is told it is in use", () =>
        {
            using var holder = new VfioHostSession(new LinuxBackend());
            holder.Hold(new[] { pair[0].Address });
            holder.Migration(pair[0].Address);
            foreach (var d in pair)
            {
                try { using var t = new LinuxBackend().Open(d.Address); return $"{d.Address}: the second open succeeded"; }
                catch (VfioMigrationException e)
                {
                    if (e.ErrorId != "DeviceBusy" || !e.Message.Contains("in use by another process") || e.Message.Contains("running VM holds"))
                        return $"{d.Address}: {e.ErrorId}: {e.Message}";
                }
            }
            return null;
        });

        check("the group closes with its last device: a fresh backend opens it afterwards", () =>
        {
            var backend = new LinuxBackend();
            var a = backend.Open(pair[0].Address);
            var b = backend.Open(pair[1].Address);
            a.Dispose();
            if (backend.OpenGroups.Count != 1) return "the group closed while a device still used it";
            b.Dispose();
            if (backend.OpenGroups.Count != 0) return "the group stayed open after its last device";
            using var again = new LinuxBackend().Open(pair[1].Address);
            return null;
        });
    }
}
