using System.Text.Json.Nodes;
using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>Images verified whole, sets included; a damaged header is ImageInvalid for that file only.</summary>
public class ImageHeaderAndSetTests
{
    private static (ImageFixture F, SimulatedDevice A, SimulatedDevice B, byte[] ImageA, byte[] ImageB) SavedSet()
    {
        var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(address: "0000:01:00.0", memory: 32 * 1024, seed: 3));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 32 * 1024, seed: 4));
        var saved = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(saved, o => Assert.True(o.Succeeded, o.Error?.Message));
        return (f, a, b, File.ReadAllBytes(f.PathFor("a.vfiostate")), File.ReadAllBytes(f.PathFor("b.vfiostate")));
    }

    public static TheoryData<string, string> HeaderDamage => new()
    {
        { "members-key-renamed", "set.members" },
        { "members-null", "set.members" },
        { "members-empty", "set.members" },
        { "member-null", "set.members" },
        { "member-blank", "set.members" },
        { "index-out-of-range", "set.index" },
        { "index-not-this-device", "set.members" },
        { "index-string", "header" },
        { "device-null", "header" },
        { "address-missing", "header" },
        { "address-null", "device.address" },
        { "kind-number-out-of-range", "device.kind" },
        { "protocol-none", "device.protocol" },
        { "host-null", "host" },
        { "metadata-null", "protocolMetadata" },
        { "metadata-value-number", "header" },
        { "savemode-other", "saveMode" },
        { "created-wrong-type", "header" },
        { "set-id-empty", "set.id" },
        { "links-own-index", "set.links" },
        { "links-out-of-range", "set.links" },
        { "links-null", "set.links" },
        { "links-twice", "set.links" },
        { "links-not-numbers", "header" },
    };

    private static void Damage(string how, JsonObject h)
    {
        var set = h["set"]!.AsObject();
        var device = h["device"]!.AsObject();
        switch (how)
        {
            case "members-key-renamed": set["mEmbers"] = set["members"]!.DeepClone(); set.Remove("members"); break;
            case "members-null": set["members"] = null; break;
            case "members-empty": set["members"] = new JsonArray(); break;
            case "member-null": set["members"]!.AsArray()[1] = null; break;
            case "member-blank": set["members"]!.AsArray()[1] = " "; break;
            case "index-out-of-range": set["index"] = 5; break;
            case "index-not-this-device": set["index"] = 1; break;
            case "index-string": set["index"] = "zero"; break;
            case "device-null": h["device"] = null; break;
            case "address-missing": device.Remove("address"); break;
            case "address-null": device["address"] = null; break;
            case "kind-number-out-of-range": device["kind"] = 42; break;
            case "protocol-none": device["protocol"] = "None"; break;
            case "host-null": h["host"] = null; break;
            case "metadata-null": h["protocolMetadata"] = null; break;
            case "metadata-value-number": h["protocolMetadata"]!["capabilities"] = 7; break;
            case "savemode-other": h["saveMode"] = "teleport"; break;
            case "created-wrong-type": h["created"] = true; break;
            case "set-id-empty": set["id"] = Guid.Empty.ToString(); break;
            case "links-own-index": set["links"]!["slot"] = new JsonArray(0); break;
            case "links-out-of-range": set["links"]!["slot"] = new JsonArray(2); break;
            case "links-null": set["links"]!["slot"] = null; break;
            case "links-twice": set["links"]!["slot"] = new JsonArray(1, 1); break;
            case "links-not-numbers": set["links"]!["slot"] = new JsonArray("one"); break;
        }
    }

    [Theory]
    [MemberData(nameof(HeaderDamage))]
    public void AHeaderFieldMissingNullOrOfTheWrongTypeIsImageInvalidEvenWithAGoodChecksum(string how, string field)
    {
        var (f, a, b, imageA, imageB) = SavedSet();
        using (f)
        {
            File.WriteAllBytes(f.PathFor("a.vfiostate"), ImageSurgery.WithHeader(imageA, h => Damage(how, h)));
            var damage = Assert.Throws<StateImageException>(() => StateImageInspector.Verify(f.PathFor("a.vfiostate")));
            Assert.Equal("ImageInvalid", damage.ErrorId);
            Assert.Equal(field, damage.Field);
            // Get-VfioStateImage's path: the damage is reported for that file and describing it does not crash.
            var described = StateImageInspector.Inspect(f.PathFor("a.vfiostate"), out var problem);
            Assert.False(described.IsValid);
            Assert.NotNull(problem);
            Assert.True(StateImageInspector.Inspect(f.PathFor("b.vfiostate")).IsValid); // the other file still reads

            a.ArcHistory.Clear();
            b.ArcHistory.Clear();
            var outcomes = DeviceSetRestorer.Restore(new[] { f.Restore(a.Address, "a.vfiostate"), f.Restore(b.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.Identity | RestoreOverrides.SetMembership);
            Assert.Equal("ImageInvalid", outcomes[0].Error!.ErrorId);
            Assert.Equal("RestoreAborted", outcomes[1].Error!.ErrorId);
            Assert.Empty(a.ArcHistory);
            Assert.Empty(b.ArcHistory);
        }
    }

    [Fact]
    public void SetImagesInSwappedOrderAreRefusedOntoOtherDevicesAndOntoTheirOwn()
    {
        var (f, a, b, _, _) = SavedSet();
        using (f)
        {
            var c = f.Host.Add(Sim.V2(address: "0000:02:00.0", memory: 32 * 1024, seed: 8));
            var d = f.Host.Add(Sim.V2(address: "0000:02:00.1", memory: 32 * 1024, seed: 9));
            var swapped = DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "b.vfiostate"), f.Restore(d.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.Contains(swapped, o => o.Error!.ErrorId == "ImageSetOrder");
            Assert.Contains("set order", swapped.First(o => o.Error!.ErrorId == "ImageSetOrder").Error!.Message);
            Assert.Empty(c.ArcHistory);
            Assert.Empty(d.ArcHistory);

            a.ArcHistory.Clear();
            var own = DeviceSetRestorer.Restore(new[] { f.Restore(a.Address, "b.vfiostate"), f.Restore(b.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.Contains(own, o => o.Error!.ErrorId == "ImageSetOrder");
            Assert.Empty(a.ArcHistory);

            // In order, the same images restore, each onto the device of its place in the set.
            var ok = DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.All(ok, o => Assert.True(o.Succeeded, o.Error?.Message));
            Sim.AssertSameDeviceState(a, c);
        }
    }

    /// <summary>Issue 17 item 4: a set restored whole onto other devices, in set order but onto functions swapped, would swap the members' state.</summary>
    [Fact]
    public void ASetOntoOtherDevicesWhoseFunctionsAreSwappedIsRefusedAndRestoresWithTheOverride()
    {
        var (f, a, b, _, _) = SavedSet();
        using (f)
        {
            var c = f.Host.Add(Sim.V2(address: "0000:02:00.0", memory: 32 * 1024, seed: 8));
            var d = f.Host.Add(Sim.V2(address: "0000:02:00.1", memory: 32 * 1024, seed: 9));
            // The images in set order (a, b), the devices listed the other way round: a's state would land on .1.
            var swapped = DeviceSetRestorer.Restore(new[] { f.Restore(d.Address, "a.vfiostate"), f.Restore(c.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.All(swapped, o => Assert.Equal("ImageSetOrder", o.Error!.ErrorId));
            Assert.Contains("function 0", swapped[0].Error!.Message);
            Assert.Contains($"belongs on {c.Address}", swapped[0].Error!.Message);
            Assert.Equal(ErrorRemedy.OverrideSetCheck, swapped[0].Error!.Remedy);
            Assert.Empty(c.ArcHistory);
            Assert.Empty(d.ArcHistory);
            // Function for function, the same images restore without a word.
            var ok = DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.All(ok, o => Assert.True(o.Succeeded, o.Error?.Message));
            Assert.All(ok, o => Assert.Empty(o.Warnings ?? Array.Empty<string>()));
            Sim.AssertSameDeviceState(a, c);
            Sim.AssertSameDeviceState(b, d);
        }
    }

    [Fact]
    public void ASetOntoDevicesTheImagesCannotTellApartIsRestoredInSetOrderWithAWarning()
    {
        var (f, a, _, _, _) = SavedSet();
        using (f)
        {
            var c = f.Host.Add(Sim.V2(address: "0000:03:00.2", memory: 32 * 1024, seed: 8));
            var d = f.Host.Add(Sim.V2(address: "0000:03:00.3", memory: 32 * 1024, seed: 9));
            var outcomes = DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.All(outcomes, o => Assert.True(o.Succeeded, o.Error?.Message));
            var warning = Assert.Single(outcomes[0].Warnings!);
            Assert.Contains($"{c.Address} gets the state of {a.Address}", warning);
            Sim.AssertSameDeviceState(a, c);
        }
    }

    /// <summary>Issue 17 item 3: every mismatch of every image at once, and an override named only where it would make the restore succeed.</summary>
    [Fact]
    public void ThePreflightReportsEveryMismatchOfEveryImageAndRecommendsOnlyOverridesThatWouldWork()
    {
        var (f, a, b, _, _) = SavedSet();
        using (f)
        {
            var other = new PciIdentity(0x8086, 0x4941, 0x8086, 0x0000, 0x0b4000);
            var c = f.Host.Add(Sim.V2(address: "0000:02:00.0", memory: 32 * 1024, seed: 8) with { PciIdentity = other, Driver = "qat_vfio_pci" });
            var d = f.Host.Add(Sim.V2(address: "0000:02:00.1", memory: 32 * 1024, seed: 9) with { PciIdentity = other, Driver = "qat_vfio_pci" });
            var v1 = f.Host.Add(Sim.V1(address: "0000:02:00.2"));

            // Both images misfit, each in three fields: all of it at once, each on its own device, and -SkipIdentityCheck would do.
            var both = DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.All(both, o =>
            {
                Assert.Equal("ImageDeviceMismatch", o.Error!.ErrorId);
                Assert.Contains("vendorId", o.Error.Message);
                Assert.Contains("deviceId", o.Error.Message);
                Assert.Contains("driver", o.Error.Message);
                Assert.Equal(ErrorRemedy.OverrideIdentityCheck, o.Error.Remedy);
            });
            Assert.Contains("a.vfiostate", both[0].Error!.Message);
            Assert.Contains("b.vfiostate", both[1].Error!.Message);
            Assert.True(RestorePreflight.Run(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, RestoreOverrides.Identity).Passed);

            // A misfit image of an incomplete set: only both overrides together would do.
            var partial = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.None));
            Assert.Equal(ErrorRemedy.OverrideIdentityAndSetChecks, partial.Error!.Remedy);

            // A v2 image on a v1 device: no override bridges the protocol, so none is recommended, for any image.
            var protocol = DeviceSetRestorer.Restore(new[] { f.Restore(v1.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
            Assert.Contains("protocol is 'V2' in the image and 'V1' on the device", protocol[0].Error!.Message);
            Assert.Contains("vendorId", protocol[1].Error!.Message);
            Assert.All(protocol, o => Assert.Equal(ErrorRemedy.None, o.Error!.Remedy));
            Assert.Empty(c.ArcHistory);
            Assert.Empty(d.ArcHistory);
        }
    }

    /// <summary>Issue 17 item 4: each member's image records what tied it to the others, by set position.</summary>
    [Fact]
    public void ASetImageRecordsItsPeerGroupAndSlotLinksBySetPosition()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(address: "0000:01:00.0", memory: 32 * 1024, seed: 3) with { IommuGroup = 5 });
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 32 * 1024, seed: 4) with { IommuGroup = 6 }, a.Address);
        var c = f.Host.Add(Sim.V2(address: "0000:04:00.0", memory: 32 * 1024, seed: 5) with { IommuGroup = 5 });
        var saved = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate"), f.Save(c.Address, "c.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(saved, o => Assert.True(o.Succeeded, o.Error?.Message));
        var links = StateImageInspector.Inspect(f.PathFor("a.vfiostate")).Links!;
        Assert.Equal(new[] { 1 }, links["peer"]);
        Assert.Equal(new[] { 2 }, links["iommuGroup"]);
        Assert.Equal(new[] { 1 }, links["slot"]);
        Assert.False(links.ContainsKey("parent")); // the simulator does not know one
        Assert.Empty(StateImageInspector.Inspect(f.PathFor("c.vfiostate")).Links!["peer"]);
        Assert.Equal("peer: 2/3; iommuGroup: 3/3; slot: 2/3", StateImageInspector.Inspect(f.PathFor("a.vfiostate")).SetLinks);
    }

    /// <summary>Issue 17 item 4: in set order onto devices peered the other way, each member's state would DMA into the wrong member.</summary>
    [Fact]
    public void ASetOntoDevicesWhosePeerLinksAreSwappedIsRefusedNamingTheLinkAndTheOrderThatMatches()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(address: "0000:01:00.0", memory: 32 * 1024, seed: 3));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 32 * 1024, seed: 4), a.Address);
        var c = f.Host.Add(Sim.V2(address: "0000:01:00.2", memory: 32 * 1024, seed: 5));
        var saved = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate"), f.Save(c.Address, "c.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(saved, o => Assert.True(o.Succeeded, o.Error?.Message));
        // Other functions (the numbers cannot decide): x alone, y and z peers. In set order a would go onto x.
        var x = f.Host.Add(Sim.V2(address: "0000:03:00.3", memory: 32 * 1024, seed: 8));
        var y = f.Host.Add(Sim.V2(address: "0000:03:00.4", memory: 32 * 1024, seed: 9));
        var z = f.Host.Add(Sim.V2(address: "0000:03:00.5", memory: 32 * 1024, seed: 10), y.Address);
        var targets = new[] { f.Restore(x.Address, "a.vfiostate"), f.Restore(y.Address, "b.vfiostate"), f.Restore(z.Address, "c.vfiostate") };
        var pre = RestorePreflight.Run(targets, RestoreOverrides.None);
        Assert.False(pre.Passed);
        Assert.All(pre.Problems, p => Assert.Equal("ImageSetOrder", p.Error.ErrorId));
        var first = pre.Problems.Single(p => p.Target == 0).Error;
        Assert.Equal("set.links", ((StateImageException)first).Field);
        Assert.Contains($"member 1/3 ({a.Address}) writes into member 2/3 ({b.Address}) peer-to-peer", first.Message);
        Assert.Contains($"{x.Address} does not write into {y.Address} peer-to-peer (it writes into no device)", first.Message);
        Assert.Contains($"member 1/3 on {y.Address}, member 2/3 on {z.Address}, member 3/3 on {x.Address}", first.Message);
        Assert.Equal(ErrorRemedy.OverrideSetCheck, first.Remedy);
        Assert.True(RestorePreflight.Run(targets, RestoreOverrides.SetMembership).Passed);
        var refused = DeviceSetRestorer.Restore(targets, MigrationState.Stop, RestoreOverrides.None);
        Assert.All(refused, o => Assert.False(o.Succeeded));
        Assert.Empty(x.ArcHistory);

        // In the order the message gives, the same images restore, each member's state beside its peer's.
        var ok = DeviceSetRestorer.Restore(new[] { f.Restore(y.Address, "a.vfiostate"), f.Restore(z.Address, "b.vfiostate"), f.Restore(x.Address, "c.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
        Assert.All(ok, o => Assert.True(o.Succeeded, o.Error?.Message));
        Sim.AssertSameDeviceState(a, y);
        Sim.AssertSameDeviceState(b, z);
    }

    [Fact]
    public void PeersRestoredOntoDevicesThatArePeersOfOthersAreRefusedAndNoOrderIsOffered()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(address: "0000:01:00.0", memory: 32 * 1024, seed: 3));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 32 * 1024, seed: 4), a.Address);
        var saved = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(saved, o => Assert.True(o.Succeeded, o.Error?.Message));
        var e = f.Host.Add(Sim.V2(address: "0000:05:00.0", memory: 32 * 1024, seed: 6));
        var g = f.Host.Add(Sim.V2(address: "0000:05:00.1", memory: 32 * 1024, seed: 7));
        var c = f.Host.Add(Sim.V2(address: "0000:02:00.0", memory: 32 * 1024, seed: 8), e.Address);
        var d = f.Host.Add(Sim.V2(address: "0000:02:00.1", memory: 32 * 1024, seed: 9), g.Address);
        var pre = RestorePreflight.Run(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, RestoreOverrides.None);
        Assert.Equal(2, pre.Problems.Count);
        Assert.Contains($"{c.Address} does not write into {d.Address} peer-to-peer (it writes into {e.Address})", pre.Problems[0].Error.Message);
        Assert.Contains($"{d.Address} does not write into {c.Address} peer-to-peer (it writes into {g.Address})", pre.Problems[1].Error.Message);
        Assert.All(pre.Problems, p => Assert.Contains("No order of these devices", p.Error.Message));

        // An image written before links were recorded has nothing to compare: the restore goes on as before.
        foreach (var name in new[] { "a.vfiostate", "b.vfiostate" })
            File.WriteAllBytes(f.PathFor(name), ImageSurgery.WithHeader(File.ReadAllBytes(f.PathFor(name)), h => h["set"]!.AsObject().Remove("links")));
        Assert.True(RestorePreflight.Run(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, RestoreOverrides.None).Passed);
    }

    /// <summary>Topology the target host may lay out otherwise (IOMMU groups): refused only when another order of the devices fits it, else a warning.</summary>
    [Fact]
    public void IommuGroupLinksRefuseASwappedOrderAndOnlyWarnWhenNoOrderFits()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(address: "0000:01:00.0", memory: 32 * 1024, seed: 3) with { IommuGroup = 1 });
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 32 * 1024, seed: 4) with { IommuGroup = 1 });
        var c = f.Host.Add(Sim.V2(address: "0000:06:00.0", memory: 32 * 1024, seed: 5) with { IommuGroup = 2 });
        var saved = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate"), f.Save(c.Address, "c.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(saved, o => Assert.True(o.Succeeded, o.Error?.Message));
        var x = f.Host.Add(Sim.V2(address: "0000:07:00.0", memory: 32 * 1024, seed: 8) with { IommuGroup = 3 });
        var y = f.Host.Add(Sim.V2(address: "0000:08:00.0", memory: 32 * 1024, seed: 9) with { IommuGroup = 4 });
        var z = f.Host.Add(Sim.V2(address: "0000:09:00.0", memory: 32 * 1024, seed: 10) with { IommuGroup = 3 });
        var swapped = RestorePreflight.Run(new[] { f.Restore(x.Address, "a.vfiostate"), f.Restore(y.Address, "b.vfiostate"), f.Restore(z.Address, "c.vfiostate") }, RestoreOverrides.None);
        Assert.Contains(swapped.Problems, p => p.Error.Message.Contains($"{x.Address} does not share an IOMMU group with {y.Address} (it is in IOMMU group 3, {y.Address} in 4)"));
        Assert.Contains(swapped.Problems, p => p.Error.Message.Contains($"member 1/3 on {x.Address}, member 2/3 on {z.Address}, member 3/3 on {y.Address}"));
        Assert.True(RestorePreflight.Run(new[] { f.Restore(x.Address, "a.vfiostate"), f.Restore(z.Address, "b.vfiostate"), f.Restore(y.Address, "c.vfiostate") }, RestoreOverrides.None).Passed);

        // Every device in a group of its own: no order fits, and that says only that the host differs.
        var w = f.Host.Add(Sim.V2(address: "0000:0a:00.0", memory: 32 * 1024, seed: 11) with { IommuGroup = 9 });
        var other = RestorePreflight.Run(new[] { f.Restore(x.Address, "a.vfiostate"), f.Restore(y.Address, "b.vfiostate"), f.Restore(w.Address, "c.vfiostate") }, RestoreOverrides.None);
        Assert.True(other.Passed, string.Join("; ", other.Problems.Select(p => p.Error.Message)));
        Assert.Contains(other.Warnings, m => m.Contains($"{x.Address} does not share an IOMMU group with {y.Address}") && m.Contains("No order of these devices"));
    }

    [Fact]
    public void TwoImagesOfOneSetPlaceOrDifferentMemberListsAreRefusedEvenWithTheOverride()
    {
        var (f, a, b, imageA, _) = SavedSet();
        using (f)
        {
            File.WriteAllBytes(f.PathFor("a2.vfiostate"), imageA);
            var twice = DeviceSetRestorer.Restore(new[] { f.Restore(a.Address, "a.vfiostate"), f.Restore(b.Address, "a2.vfiostate") }, MigrationState.Stop, RestoreOverrides.Identity | RestoreOverrides.SetMembership);
            Assert.Contains(twice, o => o.Error!.ErrorId == "ImageSetMismatch");
            Assert.DoesNotContain(b.ArcHistory, x => x.To == MigrationState.Resuming);
        }
    }

    [Fact]
    public void TheOriginalSetImagesStillVerify()
    {
        var (f, _, _, imageA, imageB) = SavedSet();
        using (f)
        {
            Assert.True(ImageSurgery.Verifies(imageA));
            Assert.True(ImageSurgery.Verifies(imageB));
            Assert.True(ImageSurgery.Verifies(ImageSurgery.WithHeader(imageA, _ => { }))); // the surgery itself damages nothing
        }
    }
}
