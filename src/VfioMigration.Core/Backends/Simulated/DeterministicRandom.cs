namespace VfioMigration.Backends.Simulated;

/// <summary>
/// SplitMix64: a seeded generator whose whole state is one 64-bit word, so a device's workload position is part of
/// its saved state and a restored device continues exactly where the source stopped (System.Random cannot be saved).
/// </summary>
public sealed class DeterministicRandom
{
    public DeterministicRandom(ulong seed) => State = seed;

    public ulong State { get; set; }

    public ulong Next()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public int NextInt(int exclusiveMax) => (int)(Next() % (ulong)exclusiveMax);

    public void Fill(Span<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i += 8)
        {
            ulong v = Next();
            for (int j = 0; j < 8 && i + j < bytes.Length; j++) bytes[i + j] = (byte)(v >> (8 * j));
        }
    }
}
