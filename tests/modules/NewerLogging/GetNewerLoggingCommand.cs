using System.Management.Automation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace NewerLogging;

/// <summary>
/// Logs one line through Microsoft.Extensions.Logging.Abstractions 10 and returns the version of the assembly
/// that served it: it fails to run when an older copy of that assembly already took its name in the default context.
/// </summary>
[Cmdlet(VerbsCommon.Get, "NewerLogging")]
[OutputType(typeof(string))]
public sealed class GetNewerLoggingCommand : PSCmdlet
{
    protected override void ProcessRecord()
    {
        ILogger logger = NullLoggerFactory.Instance.CreateLogger("NewerLogging");
        logger.LogInformation("probe");
        WriteObject(typeof(ILogger).Assembly.GetName().Version!.ToString());
    }
}
