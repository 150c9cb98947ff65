using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace VfioMigration.PowerShell.Tests;

/// <summary>A host that records what is written to it and answers prompts (-Confirm, ShouldContinue) as told.</summary>
public sealed class TestHost : PSHost
{
    private readonly TestHostUI _ui = new();
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override string Name => "VfioMigrationTestHost";
    public override PSHostUserInterface UI => _ui;
    public override Version Version => new(1, 0);
    public override void EnterNestedPrompt() { }
    public override void ExitNestedPrompt() { }
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }
    public override void SetShouldExit(int exitCode) { }

    /// <summary>The choice index to answer every prompt with (0 = Yes in ShouldProcess/ShouldContinue).</summary>
    public int Answer { get => _ui.Answer; set => _ui.Answer = value; }
    public List<string> Prompts => _ui.Prompts;
    /// <summary>The default choice of each prompt, as the host was asked.</summary>
    public List<int> Defaults => _ui.Defaults;
    public string Written => _ui.Text.ToString();

    /// <summary>A 150-column console, so tables render the way a wide terminal shows them.</summary>
    private sealed class WideRawUI : PSHostRawUserInterface
    {
        public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;
        public override Size BufferSize { get; set; } = new(150, 1000);
        public override Coordinates CursorPosition { get; set; }
        public override int CursorSize { get; set; }
        public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
        public override bool KeyAvailable => false;
        public override Size MaxPhysicalWindowSize => new(150, 100);
        public override Size MaxWindowSize => new(150, 100);
        public override Coordinates WindowPosition { get; set; }
        public override Size WindowSize { get; set; } = new(150, 100);
        public override string WindowTitle { get; set; } = "";
        public override void FlushInputBuffer() { }
        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => new BufferCell[0, 0];
        public override KeyInfo ReadKey(ReadKeyOptions options) => default;
        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }
        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }
        public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
    }

    private sealed class TestHostUI : PSHostUserInterface
    {
        public int Answer { get; set; }
        public List<string> Prompts { get; } = new();
        public List<int> Defaults { get; } = new();
        public System.Text.StringBuilder Text { get; } = new();
        public override PSHostRawUserInterface? RawUI { get; } = new WideRawUI();
        public override Dictionary<string, PSObject> Prompt(string caption, string message, Collection<FieldDescription> descriptions) => new();
        public override int PromptForChoice(string caption, string message, Collection<ChoiceDescription> choices, int defaultChoice)
        {
            Prompts.Add(message);
            Defaults.Add(defaultChoice);
            return Answer;
        }
        public override PSCredential? PromptForCredential(string caption, string message, string userName, string targetName) => null;
        public override PSCredential? PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => null;
        public override string ReadLine() => "";
        public override SecureString ReadLineAsSecureString() => new();
        public override void Write(string value) => Text.Append(value);
        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Text.Append(value);
        public override void WriteDebugLine(string message) => Text.AppendLine("DEBUG: " + message);
        public override void WriteErrorLine(string value) => Text.AppendLine("ERROR: " + value);
        public override void WriteLine(string value) => Text.AppendLine(value);
        public override void WriteProgress(long sourceId, ProgressRecord record) { }
        public override void WriteVerboseLine(string message) => Text.AppendLine("VERBOSE: " + message);
        public override void WriteWarningLine(string message) => Text.AppendLine("WARNING: " + message);
    }
}
