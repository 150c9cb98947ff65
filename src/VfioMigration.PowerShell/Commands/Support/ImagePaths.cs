using System.Management.Automation;
using VfioMigration.PowerShell.Errors;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Image file paths through the PowerShell provider: a file about to be written, the files a path or pattern
/// names for reading, and whether a path is meant literally. Only file-system paths are accepted.
/// </summary>
internal static class ImagePaths
{
    /// <summary>A file-system path for a file about to be written, or null after a (non-terminating) error; other providers are refused.</summary>
    public static string? FileToWrite(this VfioCmdlet cmdlet, string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            cmdlet.WriteVfioError(new VfioMigrationException($"'{path}' is not a file name: an image path must not be empty or blank.", VfioErrors.ImagePathInvalid), path);
            return null;
        }
        string resolved;
        ProviderInfo provider;
        try { (resolved, provider) = Relative(path, p => (cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(p, out var pi, out _), pi)); }
        catch (Exception e) when (e is SessionStateException or ArgumentException or NotSupportedException)
        {
            cmdlet.WriteVfioError(new VfioMigrationException($"'{path}' is not a usable path: {e.Message}", VfioErrors.ImagePathInvalid, null, e), path);
            return null;
        }
        if (provider.Name != "FileSystem")
            cmdlet.Terminate(ErrorRecords.For(new VfioMigrationException($"'{path}' is on the {provider.Name} provider; images are files, so use a file-system path.", VfioErrors.NotAFileSystemPath), path));
        return resolved;
    }

    /// <summary>
    /// The files a path names, through the PowerShell provider: with <paramref name="literal"/> the one file it
    /// names (whether it exists is the reader's to say), else the existing items its wildcards match. A pattern
    /// that matches nothing is <c>ImageNotFound</c>, a blank name <c>ImagePathInvalid</c> (both non-terminating).
    /// </summary>
    public static IReadOnlyList<string> FilesToRead(this VfioCmdlet cmdlet, string path, bool literal = false)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            cmdlet.WriteVfioError(new VfioMigrationException($"'{path}' is not a file name: an image path must not be empty or blank.", VfioErrors.ImagePathInvalid), path);
            return Array.Empty<string>();
        }
        try
        {
            ProviderInfo provider;
            IReadOnlyList<string> resolved;
            if (literal || !WildcardPattern.ContainsWildcardCharacters(path))
                (resolved, provider) = Relative(literal ? path : WildcardPattern.Unescape(path),
                    p => ((IReadOnlyList<string>)new[] { cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(p, out var pi, out _) }, pi));
            else (resolved, provider) = Relative(path, p => ((IReadOnlyList<string>)cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath(p, out var pi), pi));
            if (provider.Name != "FileSystem")
                cmdlet.Terminate(ErrorRecords.For(new VfioMigrationException($"'{path}' is on the {provider.Name} provider; images are files.", VfioErrors.NotAFileSystemPath), path));
            if (resolved.Count == 0)
                cmdlet.WriteVfioError(new VfioMigrationException($"No image file matches '{path}'.", VfioErrors.ImageNotFound), path);
            return resolved;
        }
        catch (ItemNotFoundException)
        {
            cmdlet.WriteVfioError(new VfioMigrationException($"No image file matches '{path}'.", VfioErrors.ImageNotFound), path);
            return Array.Empty<string>();
        }
        catch (Exception e) when (e is SessionStateException or ArgumentException or NotSupportedException)
        {
            cmdlet.WriteVfioError(new VfioMigrationException($"'{path}' is not a usable path: {e.Message}", VfioErrors.ImagePathInvalid, null, e), path);
            return Array.Empty<string>();
        }
    }

    /// <summary>
    /// The one file a parameter names: a pattern that matches several files is refused (<c>ImagePathAmbiguous</c>,
    /// naming them), never narrowed to one of them; null after a (non-terminating) error.
    /// </summary>
    public static string? FileToRead(this VfioCmdlet cmdlet, string path, bool literal, string parameter)
    {
        var files = cmdlet.FilesToRead(path, literal);
        if (files.Count <= 1) return files.Count == 1 ? files[0] : null;
        cmdlet.WriteVfioError(new VfioMigrationException(
            $"{parameter} '{path}' matches {files.Count} files ({string.Join(", ", files.Take(4).Select(System.IO.Path.GetFileName))}{(files.Count > 4 ? ", ..." : "")}); it must name one file. Name it exactly, with -LiteralPath for a name with brackets.",
            VfioErrors.ImagePathAmbiguous), path);
        return null;
    }

    /// <summary>
    /// Resolves a path; one that starts like a drive that does not exist ("0000:3b:00.2.vfiostate": device
    /// addresses have colons, and so do the names of their images) is a name relative to the current location,
    /// as it is to every other program, so it is resolved again as "./" and the name. A drive that exists
    /// (C:, Temp:, Env:) keeps its meaning.
    /// </summary>
    private static T Relative<T>(string path, Func<string, T> resolve)
    {
        try { return resolve(path); }
        catch (System.Management.Automation.DriveNotFoundException) when (!path.StartsWith('/') && !path.StartsWith("./", StringComparison.Ordinal))
        {
            return resolve("./" + path);
        }
    }

    /// <summary>
    /// Whether a path names an existing file as it is. A path that came down the pipeline from an object (an image's
    /// Path) is meant literally when it does, even if it has wildcard characters such as brackets.
    /// </summary>
    public static bool ExistsLiterally(this VfioCmdlet cmdlet, string path)
    {
        try
        {
            var (full, provider) = Relative(path, p => (cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(p, out var pi, out _), pi));
            return provider.Name == "FileSystem" && (File.Exists(full) || Directory.Exists(full));
        }
        catch (Exception e) when (e is SessionStateException or ArgumentException or NotSupportedException) { return false; }
    }
}
