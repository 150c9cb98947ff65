using System.Management.Automation;

namespace VfioMigration.PowerShell.Tests;

/// <summary>
/// Every error id of the catalogue reaches PowerShell with the category it had when the ids were mapped one by one
/// (VfioCmdlet.CategoryOf before the catalogue), and none with NotSpecified.
/// </summary>
public sealed class ErrorCategoryTests : IDisposable
{
    private readonly Engine _ps = new();

    /// <summary>The table as it was, copied before the refactor; the ids it mapped to NotSpecified are marked.</summary>
    public static readonly IReadOnlyDictionary<string, ErrorCategory> Expected = new Dictionary<string, ErrorCategory>
    {
        ["TransitionRefused"] = ErrorCategory.InvalidOperation,
        ["MigrationNotSupported"] = ErrorCategory.InvalidOperation,
        ["PeerQuiesceUnsupported"] = ErrorCategory.InvalidOperation,
        ["PreCopyNotSupported"] = ErrorCategory.InvalidOperation,
        ["TransitionFailed"] = ErrorCategory.DeviceError,
        ["DeviceInErrorState"] = ErrorCategory.DeviceError,
        ["VfioCallFailed"] = ErrorCategory.DeviceError,
        ["DeviceGone"] = ErrorCategory.DeviceError,
        ["DeviceLeftInState"] = ErrorCategory.DeviceError,
        ["PeerQuiesceFailed"] = ErrorCategory.OperationStopped,
        ["DeviceNotFound"] = ErrorCategory.ObjectNotFound,
        ["PeerNotFound"] = ErrorCategory.ObjectNotFound,
        ["DeviceBusy"] = ErrorCategory.ResourceBusy,
        ["DeviceInUse"] = ErrorCategory.ResourceBusy,
        ["PermissionDenied"] = ErrorCategory.PermissionDenied,
        ["DeviceExists"] = ErrorCategory.ResourceExists,
        ["InvalidSimulatedDevice"] = ErrorCategory.InvalidArgument,
        ["PeerNotPci"] = ErrorCategory.InvalidArgument,
        ["InvalidFault"] = ErrorCategory.InvalidArgument,
        ["InvalidDeviceName"] = ErrorCategory.InvalidArgument,
        ["InvalidParameterCombination"] = ErrorCategory.InvalidArgument,
        ["InvalidParameterValue"] = ErrorCategory.InvalidArgument,
        ["PeerWithSeveralDevices"] = ErrorCategory.InvalidArgument,
        ["PeerIsDevice"] = ErrorCategory.InvalidArgument,
        ["SetDeclined"] = ErrorCategory.OperationStopped,
        ["SetRefused"] = ErrorCategory.OperationStopped,
        ["VfioNotAvailable"] = ErrorCategory.NotInstalled,
        ["VfioApiVersion"] = ErrorCategory.NotInstalled,
        ["DeviceNotBound"] = ErrorCategory.ResourceUnavailable,
        ["VfioGroupNotViable"] = ErrorCategory.ResourceUnavailable,
        ["SaveStreamStalled"] = ErrorCategory.OperationTimeout,
        ["SavedButNotMoved"] = ErrorCategory.InvalidResult,
        ["ConfirmationRequired"] = ErrorCategory.OperationStopped,
        ["ImageInvalid"] = ErrorCategory.InvalidData,
        ["QemuStreamInvalid"] = ErrorCategory.InvalidData,
        ["QemuStreamTruncated"] = ErrorCategory.InvalidData,
        ["QemuStreamUnsupported"] = ErrorCategory.InvalidData,
        ["QemuSectionNotFound"] = ErrorCategory.InvalidArgument,
        ["QemuTemplateMismatch"] = ErrorCategory.InvalidArgument,
        ["LibvirtSaveInvalid"] = ErrorCategory.InvalidData,
        ["ImageChecksumMismatch"] = ErrorCategory.InvalidData,
        ["ImageTruncated"] = ErrorCategory.InvalidData,
        ["ImageVersionUnsupported"] = ErrorCategory.InvalidData,
        ["ImageDeviceMismatch"] = ErrorCategory.InvalidArgument,
        ["ImageSetIncomplete"] = ErrorCategory.InvalidArgument,
        ["ImagePathConflict"] = ErrorCategory.InvalidArgument,
        ["RestoreTargetConflict"] = ErrorCategory.InvalidArgument,
        ["DeviceListedTwice"] = ErrorCategory.InvalidArgument,
        ["ImageCountMismatch"] = ErrorCategory.InvalidArgument,
        ["ImageExists"] = ErrorCategory.ResourceExists,
        ["ImageNotFound"] = ErrorCategory.ObjectNotFound,
        ["ImageDirectoryNotFound"] = ErrorCategory.ObjectNotFound,
        ["DiskFull"] = ErrorCategory.WriteError,
        ["ImageWriteFailed"] = ErrorCategory.WriteError,
        ["ImageReadFailed"] = ErrorCategory.ReadError,
        ["SaveCancelled"] = ErrorCategory.OperationStopped,
        ["RestoreCancelled"] = ErrorCategory.OperationStopped,
        ["SaveAborted"] = ErrorCategory.OperationStopped,
        ["RestoreAborted"] = ErrorCategory.OperationStopped,
        ["ImagePathIsDirectory"] = ErrorCategory.InvalidArgument,
        ["NotAFileSystemPath"] = ErrorCategory.InvalidArgument,
        ["ImageNotRegularFile"] = ErrorCategory.InvalidArgument,
        ["ImagePathInvalid"] = ErrorCategory.InvalidArgument,
        ["ImagePathAmbiguous"] = ErrorCategory.InvalidArgument,
        ["ImageLockUnsafe"] = ErrorCategory.SecurityError,
        ["ImageSetOrder"] = ErrorCategory.InvalidArgument,
        ["ImageSetMismatch"] = ErrorCategory.InvalidData,
        ["ImageBusy"] = ErrorCategory.ResourceBusy,
        ["AuditLogUnavailable"] = ErrorCategory.WriteError,
        ["AuditLogUnsafe"] = ErrorCategory.SecurityError,
    };

    /// <summary>
    /// Ids raised before the catalogue that the one-by-one table did not name. ConformanceSuiteMissing and
    /// NotSimulated built their records by hand with these categories; AbandonedSession and NoDataSession fell
    /// through to NotSpecified and get the category of their kind.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, ErrorCategory> Unmapped = new Dictionary<string, ErrorCategory>
    {
        ["ConformanceSuiteMissing"] = ErrorCategory.ObjectNotFound,
        ["NotSimulated"] = ErrorCategory.InvalidOperation,
        ["AbandonedSession"] = ErrorCategory.DeviceError,
        ["NoDataSession"] = ErrorCategory.InvalidOperation,
    };

    /// <summary>Each catalogue entry as the module reports it: the record built for an error of that entry.</summary>
    private Dictionary<string, ErrorRecord> Records() =>
        _ps.Ok("""
            foreach ($entry in [VfioMigration.VfioErrors]::All) {
                [VfioMigration.PowerShell.Errors.ErrorRecords]::For([VfioMigration.VfioMigrationException]::new('m', $entry, $null, $null, $null), $null)
            }
            """).Select(o => (ErrorRecord)o.BaseObject).ToDictionary(r => r.FullyQualifiedErrorId);

    [Fact]
    public void EveryIdKeepsItsCategoryAndNoneIsNotSpecified()
    {
        var records = Records();
        var expected = Expected.Concat(Unmapped).ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(expected.Keys.Order(), records.Keys.Order());
        foreach (var (id, category) in expected)
            Assert.True(records[id].CategoryInfo.Category == category, $"{id}: {records[id].CategoryInfo.Category}, expected {category}");
        Assert.DoesNotContain(records.Values, r => r.CategoryInfo.Category == ErrorCategory.NotSpecified);
    }

    [Fact]
    public void EveryKindHasItsOwnCategory()
    {
        foreach (var kind in Enum.GetValues<ErrorKind>())
            Assert.NotEqual(ErrorCategory.NotSpecified, _ps.Value<ErrorCategory>($"[VfioMigration.PowerShell.Errors.ErrorRecords]::CategoryOf('{kind}')"));
    }

    public void Dispose() => _ps.Dispose();
}

/// <summary>The catalogue itself, and that nothing in src/ goes around it.</summary>
public sealed class ErrorCatalogueTests : IDisposable
{
    private readonly Engine _ps = new();

    private static readonly string Src = Path.Combine(Engine.RepositoryRoot, "src");

    private static IEnumerable<(string File, string Text)> Sources(string project) =>
        Directory.EnumerateFiles(Path.Combine(Src, project), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
            .Select(f => (Path.GetRelativePath(Engine.RepositoryRoot, f), File.ReadAllText(f)));

    [Fact]
    public void EachIdIsInTheCatalogueOnceUnderItsOwnName()
    {
        Assert.Equal(VfioErrors.All.Count, VfioErrors.All.Select(e => e.Id).Distinct().Count());
        foreach (var field in typeof(VfioErrors).GetFields().Where(f => f.FieldType == typeof(VfioError)))
            Assert.Equal(field.Name, ((VfioError)field.GetValue(null)!).Id);
        Assert.Equal(ErrorCategoryTests.Expected.Count + ErrorCategoryTests.Unmapped.Count, VfioErrors.All.Count);
    }

    /// <summary>An id string anywhere in src/ (a throw site, a catch filter, a record) bypasses the catalogue.</summary>
    [Fact]
    public void NoIdIsWrittenAsAStringLiteral()
    {
        var found = new List<string>();
        foreach (var project in new[] { "VfioMigration.Core", "VfioMigration.PowerShell" })
            foreach (var (file, text) in Sources(project))
                foreach (var e in VfioErrors.All)
                    if (text.Contains($"\"{e.Id}\"", StringComparison.Ordinal))
                        found.Add($"{file}: \"{e.Id}\"");
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    /// <summary>Core's strings (messages, warnings) say what happened in the core's terms; cmdlets and switches are the module's words.</summary>
    [Fact]
    public void CoreStringsNameNoCmdletAndNoSwitch()
    {
        var cmdlet = new System.Text.RegularExpressions.Regex(@"\b[A-Z][a-z]+-Vfio[A-Za-z]*");
        var parameter = new System.Text.RegularExpressions.Regex(@"(?<![\w-])-[A-Z][a-z]+[A-Za-z]*");
        var found = new List<string>();
        foreach (var (file, text) in Sources("VfioMigration.Core"))
        {
            foreach (var literal in StringLiterals(text))
                if (cmdlet.Match(literal) is { Success: true } c) found.Add($"{file}: {c.Value} in \"{literal}\"");
                else if (parameter.Match(literal) is { Success: true } p) found.Add($"{file}: {p.Value} in \"{literal}\"");
        }
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    [Fact]
    public void TheScanFindsWhatItLooksFor()
    {
        const string source = """
            // "Reset-VfioDevice" in a comment
            var a = $"{x} already exists; use -Force {(y ? "to replace" : "")} it."; var b = "it \" quoted"; /* "-Live" */
            var c = '"'; var d = @"C:\x ""q"" y";
            """;
        Assert.Equal(new[] { "to replace", "", "{…} already exists; use -Force {…} it.", "it \\\" quoted", "C:\\x \"q\" y" }, StringLiterals(source));
    }

    /// <summary>The string literals of C# source, comments and char literals skipped; interpolation holes read as code.</summary>
    private static List<string> StringLiterals(string source)
    {
        var found = new List<string>();
        int i = 0;
        Code(source, ref i, found, hole: false);
        return found;
    }

    private static bool At(string s, int i, char c) => i < s.Length && s[i] == c;

    /// <summary>Reads code from <paramref name="i"/> to the end, or in an interpolation hole to its closing brace.</summary>
    private static void Code(string s, ref int i, List<string> found, bool hole)
    {
        int depth = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '/' && At(s, i + 1, '/')) { int n = s.IndexOf('\n', i); i = n < 0 ? s.Length : n; continue; }
            if (c == '/' && At(s, i + 1, '*')) { int n = s.IndexOf("*/", i + 2, StringComparison.Ordinal); i = n < 0 ? s.Length : n + 2; continue; }
            if (c == '\'') { i = s.IndexOf('\'', i + (At(s, i + 1, '\\') ? 3 : 2)) + 1; continue; }
            if (c == '"') { Literal(s, ref i, found); continue; }
            if (hole && c == '{') depth++;
            if (hole && c == '}' && depth-- == 0) { i++; return; }
            i++;
        }
    }

    private static bool Prefixed(string s, int i, char p) => i > 0 && (s[i - 1] == p || i > 1 && s[i - 2] == p && s[i - 1] is '$' or '@');

    /// <summary>Reads one literal whose opening quote is at <paramref name="i"/> (its $ and @ come before it).</summary>
    private static void Literal(string s, ref int i, List<string> found)
    {
        bool verbatim = Prefixed(s, i, '@'), interpolated = Prefixed(s, i, '$');
        var text = new System.Text.StringBuilder();
        if (s.AsSpan(i).StartsWith("\"\"\""))
        {
            int end = s.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
            found.Add(s[(i + 3)..(end < 0 ? s.Length : end)]);
            i = end < 0 ? s.Length : end + 3;
            return;
        }
        i++;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '"' && verbatim && At(s, i + 1, '"')) { text.Append('"'); i += 2; continue; }
            if (c == '"') { i++; break; }
            if (c == '\\' && !verbatim) { text.Append(s, i, Math.Min(2, s.Length - i)); i += 2; continue; }
            if (interpolated && c == '{' && At(s, i + 1, '{')) { text.Append('{'); i += 2; continue; }
            if (interpolated && c == '{') { text.Append("{…}"); i++; Code(s, ref i, found, hole: true); continue; }
            text.Append(c);
            i++;
        }
        found.Add(text.ToString());
    }

    [Theory]
    [InlineData(nameof(ErrorRemedy.ResetDevice), "Reset-VfioDevice")]
    [InlineData(nameof(ErrorRemedy.ReplaceFile), "-Force")]
    [InlineData(nameof(ErrorRemedy.OverrideIdentityCheck), "-SkipIdentityCheck")]
    [InlineData(nameof(ErrorRemedy.OverrideSetCheck), "-SkipSetCheck")]
    [InlineData(nameof(ErrorRemedy.OverrideQuiesceCheck), "-SkipQuiesceCheck")]
    [InlineData(nameof(ErrorRemedy.SaveStopped), "without -Live")]
    [InlineData(nameof(ErrorRemedy.ReleaseDevice), "Remove-Module VfioMigration")]
    [InlineData(nameof(ErrorRemedy.OverrideIdentityAndSetChecks), "-SkipIdentityCheck and -SkipSetCheck")]
    [InlineData(nameof(ErrorRemedy.AnswerWithoutAsking), "-Confirm:$false")]
    public void EachRemedyIsWordedWithTheCmdletOrSwitchThatTakesIt(string remedy, string words)
    {
        var record = (ErrorRecord)_ps.Ok($"[VfioMigration.PowerShell.Errors.ErrorRecords]::For([VfioMigration.VfioMigrationException]::new('m', [VfioMigration.VfioErrors]::TransitionFailed, '0000:01:00.0', $null, '{remedy}'), $null)").Single().BaseObject;
        Assert.Contains(words, record.ErrorDetails.RecommendedAction);
        Assert.Equal("m", record.ErrorDetails.Message);
        Assert.Equal("m", record.Exception.Message);
    }

    [Fact]
    public void EveryRemedyHasWords()
    {
        foreach (var remedy in Enum.GetValues<ErrorRemedy>().Where(r => r != ErrorRemedy.None))
            Assert.False(string.IsNullOrEmpty(_ps.Value<string>($"[VfioMigration.PowerShell.Errors.ErrorRecords]::RecommendedAction([VfioMigration.VfioMigrationException]::new('m', [VfioMigration.VfioErrors]::TransitionFailed, $null, $null, '{remedy}'))")), remedy.ToString());
    }

    /// <summary>The entries whose errors always carry a remedy (whatever the throw site) get its words.</summary>
    [Theory]
    [InlineData(nameof(VfioErrors.DeviceInErrorState), "Reset-VfioDevice")]
    [InlineData(nameof(VfioErrors.ImageExists), "-Force")]
    [InlineData(nameof(VfioErrors.PeerQuiesceUnsupported), "-SkipQuiesceCheck")]
    [InlineData(nameof(VfioErrors.ImageSetIncomplete), "-SkipSetCheck")]
    [InlineData(nameof(VfioErrors.ImageSetOrder), "-SkipSetCheck")]
    [InlineData(nameof(VfioErrors.PreCopyNotSupported), "-Live")]
    [InlineData(nameof(VfioErrors.ConfirmationRequired), "-Confirm:$false")] // newuser finding 8: it offered only -Force, in the message
    public void AnEntrysOwnRemedyReachesTheRecord(string id, string words)
    {
        var record = (ErrorRecord)_ps.Ok($"[VfioMigration.PowerShell.Errors.ErrorRecords]::For([VfioMigration.VfioMigrationException]::new('m', [VfioMigration.VfioErrors]::{id}, $null, $null, $null), $null)").Single().BaseObject;
        Assert.Contains(words, record.ErrorDetails.RecommendedAction);
    }

    /// <summary>Attack finding 5d: a file name (or a /proc name, a typed value) in a message reached the terminal raw.</summary>
    [Fact]
    public void TheHostShowsAMessageWithItsControlAndBidiCharactersWrittenOutAndTheExceptionKeepsIt()
    {
        var record = (ErrorRecord)_ps.Ok("[VfioMigration.PowerShell.Errors.ErrorRecords]::For([VfioMigration.VfioMigrationException]::new(\"/tmp/x`e]0;PWNED`a`nFAKE`u{202E}.mig: too short\", [VfioMigration.VfioErrors]::ImageTruncated, $null, $null, $null), $null)").Single().BaseObject;
        Assert.Equal("/tmp/x\\u001B]0;PWNED\\u0007\\u000AFAKE\\u202E.mig: too short", record.ErrorDetails.Message);
        Assert.Equal("/tmp/x\u001b]0;PWNED\u0007\nFAKE\u202e.mig: too short", record.Exception.Message);
        Assert.Equal("plain: m", _ps.Value<string>("[VfioMigration.PowerShell.Errors.ErrorRecords]::For([VfioMigration.VfioMigrationException]::new('plain: m', [VfioMigration.VfioErrors]::ImageTruncated, $null, $null, $null), $null).ToString()"));
    }

    [Fact]
    public void PermissionDeniedAtADeviceSaysHowToGetAccessButAtAFileItDoesNot()
    {
        string Action(string device) => _ps.Ok($"[VfioMigration.PowerShell.Errors.ErrorRecords]::For([VfioMigration.VfioMigrationException]::new('m', [VfioMigration.VfioErrors]::PermissionDenied, {device}, $null, $null), $null).ErrorDetails.RecommendedAction").SingleOrDefault()?.ToString() ?? "";
        Assert.Contains("/dev/vfio", Action("'0000:01:00.0'"));
        Assert.Equal("", Action("[NullString]::Value"));
    }

    public void Dispose() => _ps.Dispose();
}
