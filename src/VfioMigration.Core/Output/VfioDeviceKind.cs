namespace VfioMigration;

/// <summary>What kind of VFIO device: a PCI function, an s390 ccw subchannel, or a mediated device.</summary>
public enum VfioDeviceKind
{
    Pci,
    Ccw,
    Mdev,
}
