using VfioMigration.Backends.Linux;
using VfioMigration.Transport;

/// <summary>
/// An mtty port's UART, reached through BAR0 of the mdev (region 0: one byte per 16550 register, serial_reg.h):
/// what a guest would have written before a save, so a check can compare it after a restore. mtty keeps the
/// registers and FIFO across close and reset, so a fresh open reads what the last one left.
/// </summary>
internal sealed record Uart(byte Scratch, byte Lcr, string Fifo)
{
    private const int Rx = 0, Tx = 0, Lcr_ = 3, Lsr = 5, Scr = 7;
    private const byte LsrDataReady = 0x01;

    /// <summary>Opens the mdev on its own (the cmdlets' runspace must not hold it), writes this state, closes.</summary>
    public void LoadInto(string uuid)
    {
        Use(uuid, (calls, bar0) =>
        {
            Drain(calls, bar0);
            Poke(calls, bar0, Lcr_, Lcr);
            Poke(calls, bar0, Scr, Scratch);
            foreach (char c in Fifo) Poke(calls, bar0, Tx, (byte)c);
            return 0;
        });
    }

    /// <summary>Reads the scratch register, LCR and the whole FIFO (reading pops it) of an mdev.</summary>
    public static Uart ReadFrom(string uuid) => Use(uuid, (calls, bar0) =>
        new Uart(Peek(calls, bar0, Scr), Peek(calls, bar0, Lcr_), Drain(calls, bar0)));

    private static string Drain(CheckedDeviceCalls calls, long bar0)
    {
        var s = new System.Text.StringBuilder();
        for (int i = 0; i < 64 && (Peek(calls, bar0, Lsr) & LsrDataReady) != 0; i++) s.Append((char)Peek(calls, bar0, Rx));
        return s.ToString();
    }

    private static T Use<T>(string uuid, Func<CheckedDeviceCalls, long, T> body)
    {
        using var t = new LinuxBackend().Open(uuid);
        var calls = new CheckedDeviceCalls(t);
        var bar0 = calls.GetRegionInfo(0) ?? throw new InvalidOperationException($"{uuid}: no BAR0");
        return body(calls, (long)bar0.Offset);
    }

    private static byte Peek(CheckedDeviceCalls calls, long bar0, int register)
    {
        var b = new byte[1];
        calls.ReadExact(bar0 + register, b, $"UART register {register}");
        return b[0];
    }

    private static void Poke(CheckedDeviceCalls calls, long bar0, int register, byte value) =>
        calls.WriteExact(bar0 + register, new[] { value }, $"UART register {register}");

    public override string ToString() => $"SCR 0x{Scratch:x2}, LCR 0x{Lcr:x2}, FIFO \"{Fifo}\"";
}
