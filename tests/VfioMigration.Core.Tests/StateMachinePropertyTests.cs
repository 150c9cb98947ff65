using CsCheck;
using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// Random request sequences on simulated v1 and v2 devices, checked against a model of the protocol: a planned
/// request with no fault armed succeeds and lands on its target; a refused one changes nothing; a failed one leaves
/// the device on its planned path or in Error, and says so; time passing never changes the state.
/// </summary>
public class StateMachinePropertyTests
{
    private abstract record Op;
    private sealed record Request(MigrationState Target) : Op;
    private sealed record ResetDevice : Op;
    private sealed record Advance(int Steps) : Op;
    private sealed record ArmFault(int Nth, bool EnterError) : Op;

    private static readonly Gen<Op> OpGen = Gen.Frequency(
        (6, Gen.Enum<MigrationState>().Select(s => (Op)new Request(s))),
        (1, Gen.Const((Op)new ResetDevice())),
        (2, Gen.Int[0, 40].Select(n => (Op)new Advance(n))),
        (1, Gen.Select(Gen.Int[1, 3], Gen.Bool, (n, e) => (Op)new ArmFault(n, e))));

    public static TheoryData<string> Devices => new() { "v2-sc", "v2-sc-p2p", "v2-sc-pre", "v2-all", "v1", "v1-ndma", "ccw-v2", "ccw-v1" };

    private static SimulatedDeviceOptions OptionsFor(string kind) => kind switch
    {
        "v2-sc" => Sim.V2(MigrationCapabilities.StopCopy),
        "v2-sc-p2p" => Sim.V2(MigrationCapabilities.StopCopy | MigrationCapabilities.P2P),
        "v2-sc-pre" => Sim.V2(MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy),
        "v2-all" => Sim.V2(),
        "v1" => Sim.V1(),
        "v1-ndma" => Sim.V1(ndma: true),
        "ccw-v2" => Sim.Ccw(),
        _ => Sim.Ccw(protocol: MigrationProtocol.V1),
    } with
    { MemorySize = 16 * 1024 };

    [Theory]
    [MemberData(nameof(Devices))]
    public void RandomRequestSequencesFollowTheProtocol(string kind)
    {
        var options = OptionsFor(kind);
        var resumeData = SaveOf(options with { Seed = 4242 });
        OpGen.Array[1, 40].Sample(ops => Run(options, resumeData, ops), iter: 150);
    }

    private static byte[] SaveOf(SimulatedDeviceOptions options)
    {
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        using var driver = Sim.Driver(t);
        var ms = new MemoryStream();
        DeviceStateSaver.Save(driver, ms, new SaveOptions());
        return ms.ToArray();
    }

    private static void Run(SimulatedDeviceOptions options, byte[] resumeData, Op[] ops)
    {
        var (_, device) = Sim.One(options);
        using var t = device.Open();
        using var driver = Sim.Driver(t);
        var model = MigrationState.Running;
        foreach (var op in ops)
        {
            switch (op)
            {
                case Request(var target):
                    {
                        var plan = driver.Plan(model, target);
                        bool faultArmed = device.Faults.Armed.Count > 0;
                        try
                        {
                            driver.RequestState(target);
                            Assert.False(plan.IsRefused, $"{model} -> {target} should have been refused: {plan.RefusalReason}");
                            bool entersResuming = target == MigrationState.Resuming && model != MigrationState.Resuming;
                            model = target;
                            if (entersResuming) driver.WriteResumeData(resumeData);
                        }
                        catch (MigrationTransitionException e)
                        {
                            var actual = device.MigrationState!.Value;
                            Assert.Equal(actual, e.StateNow);
                            if (plan.IsRefused)
                            {
                                Assert.Equal(model, actual);
                                Assert.Equal(model == MigrationState.Error ? "DeviceInErrorState" : "TransitionRefused", e.ErrorId);
                            }
                            else
                            {
                                Assert.True(faultArmed, $"{model} -> {target} failed with no fault armed: {e.Message}");
                                Assert.True(actual == MigrationState.Error || plan.Path.Contains(actual), $"{actual} is not on {plan}");
                                Assert.NotEqual(target, actual);
                                model = actual;
                            }
                        }
                        break;
                    }
                case ResetDevice:
                    driver.Reset();
                    model = MigrationState.Running;
                    break;
                case Advance(var steps):
                    device.Advance(steps);
                    break;
                case ArmFault(var nth, var enterError):
                    device.Faults.Arm(new FaultRule(FaultPoint.Transition, nth, Errno.EIO) { EnterError = enterError });
                    break;
            }
            Assert.Equal(model, device.MigrationState);
            Assert.Equal(model, driver.GetState());
        }
    }
}
