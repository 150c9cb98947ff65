using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using VfioMigration.Qemu;

namespace VfioMigration.Libvirt;

/// <summary>
/// What a save file's domain XML says about its VFIO devices: each <c>&lt;hostdev&gt;</c>'s guest PCI address and
/// the host device behind it (a PCI address, or an mdev's UUID), and the PCI controllers, whose index is the guest
/// bus number behind them (libvirt formatdomain: hostdev, controller).
/// </summary>
internal sealed class LibvirtDomain
{
    private readonly Dictionary<(int Domain, int Bus, int Slot, int Function), string> _hostdevs = new();
    private readonly Dictionary<(int Bus, int Slot, int Function), int> _controllers = new();

    public string? Name { get; private set; }
    public string? Uuid { get; private set; }
    /// <summary>The host devices the XML names, keyed by guest address "dddd:bb:ss.f".</summary>
    public IReadOnlyDictionary<string, string> HostDevices =>
        _hostdevs.ToDictionary(h => $"{h.Key.Domain:x4}:{h.Key.Bus:x2}:{h.Key.Slot:x2}.{h.Key.Function:x}", h => h.Value);

    /// <summary>
    /// Elements nest at most this deep. libvirt's own domain XML nests about 7 deep (domain, devices, hostdev,
    /// source, address; cpu, numa, cell, distances, sibling), a managed save's domstatus one more; metadata
    /// (any namespace) is the only open part. XmlReaderSettings has no depth limit, and a deep document costs
    /// time out of proportion to its size.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>Parses the XML (no DTD, no external entities, at most <see cref="MaxDepth"/> deep); a damaged XML is a <c>LibvirtSaveInvalid</c> error.</summary>
    public static LibvirtDomain Parse(string xml, string path)
    {
        XDocument document;
        try
        {
            var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, MaxCharactersInDocument = LibvirtSaveHeader.MaxDataLength };
            // The depth is checked in a pass of its own, which stops at the first element too deep, before a tree is built.
            using (var check = XmlReader.Create(new StringReader(xml), settings))
            {
                while (check.Read())
                {
                    if (check.NodeType == XmlNodeType.Element && check.Depth >= MaxDepth)
                        throw new QemuStreamException(path, $"the domain XML after the libvirt header nests elements more than {MaxDepth} deep (line {(check as IXmlLineInfo)?.LineNumber}); libvirt's domain XML nests fewer than 10.",
                            VfioErrors.LibvirtSaveInvalid, LibvirtSaveHeader.Size);
                }
            }
            using var reader = XmlReader.Create(new StringReader(xml), settings);
            document = XDocument.Load(reader);
        }
        catch (XmlException e)
        {
            throw new QemuStreamException(path, $"the domain XML after the libvirt header is not valid XML: {e.Message}", VfioErrors.LibvirtSaveInvalid, LibvirtSaveHeader.Size);
        }
        var domain = new LibvirtDomain();
        // A save file's XML is <domain> itself, or <domstatus> around it for a managed save of some versions.
        var root = document.Root?.Name.LocalName == "domain" ? document.Root : document.Root?.Element("domain");
        if (root is null) return domain;
        // What the XML names is shown on a terminal: escaped where it is read (XML may carry any character as &#x1b;).
        domain.Name = Shown(root.Element("name")?.Value);
        domain.Uuid = Shown(root.Element("uuid")?.Value);
        var devices = root.Element("devices");
        if (devices is null) return domain;
        foreach (var controller in devices.Elements("controller").Where(e => (string?)e.Attribute("type") == "pci"))
        {
            if (!int.TryParse((string?)controller.Attribute("index"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int index)) continue;
            if (Address(controller.Element("address")) is { } a) domain._controllers[(a.Bus, a.Slot, a.Function)] = index;
        }
        foreach (var hostdev in devices.Elements("hostdev"))
        {
            if (Address(hostdev.Element("address")) is not { } guest) continue;
            var source = hostdev.Element("source")?.Element("address");
            string? host = (string?)hostdev.Attribute("type") switch
            {
                "pci" when Address(source) is { } h => $"{h.Domain:x4}:{h.Bus:x2}:{h.Slot:x2}.{h.Function:x}",
                "mdev" => Shown((string?)source?.Attribute("uuid")),
                _ => null,
            };
            if (host is not null) domain._hostdevs[guest] = host;
        }
        return domain;
    }

    /// <summary>
    /// The host device behind a guest PCI path as QEMU writes it in an idstr ("0000:00:04.0", or
    /// "0000:00:1c.0:00.0" for a device behind the bridge at 00:1c.0), or null when the XML does not say.
    /// </summary>
    public string? HostDeviceFor(string guestPath)
    {
        var parts = guestPath.Split(':');
        if (parts.Length < 3 || !Hex(parts[0], out int domainNumber) || !Hex(parts[1], out int bus)) return null;
        for (int i = 2; i < parts.Length; i++)
        {
            var sf = parts[i].Split('.');
            if (sf.Length != 2 || !Hex(sf[0], out int slot) || !Hex(sf[1], out int function)) return null;
            if (i == parts.Length - 1) return _hostdevs.GetValueOrDefault((domainNumber, bus, slot, function));
            if (!_controllers.TryGetValue((bus, slot, function), out bus)) return null;
        }
        return null;
    }

    private static (int Domain, int Bus, int Slot, int Function)? Address(XElement? a)
    {
        if (a is null || ((string?)a.Attribute("type") is { } t && t != "pci")) return null;
        if (!Number((string?)a.Attribute("domain") ?? "0", out int d) || !Number((string?)a.Attribute("bus"), out int b) ||
            !Number((string?)a.Attribute("slot"), out int s) || !Number((string?)a.Attribute("function") ?? "0", out int f)) return null;
        return (d, b, s, f);
    }

    /// <summary>libvirt writes "0x04"; plain decimal is accepted too.</summary>
    private static bool Number(string? text, out int value)
    {
        value = 0;
        if (text is null) return false;
        return text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? int.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value)
            : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
    }

    private static string? Shown(string? text) => text is null ? null : DisplayText.Escape(text);

    private static bool Hex(string text, out int value) => int.TryParse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value);
}
