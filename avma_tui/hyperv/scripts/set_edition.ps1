<#
  set_edition — start converting the guest's edition (DISM /Online /Set-Edition) with the given key, detached.
  Parameters: VmId, Edition (ServerStandard | ServerDatacenter), ProductKey, Credential.
  Writes one JSON document: {"vm_id", "started": true, "task": "\avma-tui\set-edition"}
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors", made where the error happened
  The guest side gets its data through -ArgumentList and param(), never through script text.

  Why a scheduled task: DISM runs for minutes. A native command run by a remote pipeline is killed with its
  child processes when the pipeline stops (PowerShell/PowerShell NativeCommandProcessor.cs StopProcessing ->
  KillProcess -> KillProcessAndChildProcesses on the server side), and a timed-out or closed session stops
  it. A task of the guest's Task Scheduler belongs to no session: the script registers it, starts it
  ("Start-ScheduledTask ... starts a registered background task asynchronously",
  https://learn.microsoft.com/powershell/module/scheduledtasks/start-scheduledtask) and returns at once.
  The tool then polls the VM's KVP edition and the guest's license (docs/operations.md, set_edition).
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][ValidateSet('ServerStandard', 'ServerDatacenter')][string]$Edition,
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$')][string]$ProductKey,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1

try {
    $answer = Invoke-Command -VMId $VmId -Credential $Credential -ArgumentList $Edition, $ProductKey -ScriptBlock {
        param([string]$TargetEdition, [string]$Key)
        $ErrorActionPreference = 'Stop'
        #include lib/errors.ps1
        try {
            # Validated again here: these become DISM's arguments in the task's action.
            if ($TargetEdition -notin @('ServerStandard', 'ServerDatacenter')) {
                throw (New-ToolError 'DismFailed' 0x80070057 'Unsupported edition.')
            }
            if ($Key -notmatch '^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$') {
                throw (New-ToolError 'DismFailed' 0xC004F050 'The Software Licensing Service reported that the product key is invalid.')
            }
            $taskPath = '\avma-tui\'
            $taskName = 'set-edition'
            $running = Get-ScheduledTask -TaskPath $taskPath -TaskName $taskName -ErrorAction SilentlyContinue
            if ($null -eq $running -or [string]$running.State -ne 'Running') {
                # What DISM would refuse at once, refused before anything starts (Get-WindowsEdition -Online [-Target],
                # https://learn.microsoft.com/powershell/module/dism/get-windowsedition). The objects' property name
                # `Edition` is UNCONFIRMED: an empty answer skips a check, and DISM then fails in its task instead.
                $current = [string](Get-WindowsEdition -Online).Edition
                if ($current -and $current -notlike '*Eval') {
                    throw (New-ToolError 'DismFailed' 0x80070032 "The current edition ($current) cannot be upgraded to any target editions.")
                }
                $targets = @(Get-WindowsEdition -Online -Target | ForEach-Object { [string]$_.Edition } | Where-Object { $_ })
                if ($targets.Count -gt 0 -and $TargetEdition -notin $targets) {
                    throw (New-ToolError 'DismFailed' 0x80070057 "The edition $TargetEdition is not a valid target edition.")
                }
                # /Quiet without /NoRestart: DISM restarts the guest itself when the conversion needs it ("This option
                # will keep the application from prompting for a restart (or keep it from restarting automatically
                # if the /Quiet option is used)", /NoRestart in "DISM Global Options for Command-Line Syntax",
                # https://learn.microsoft.com/windows-hardware/manufacture/desktop/dism-global-options-for-command-line-syntax).
                # The key stays in the task's definition: an AVMA key is published by Microsoft, not a secret.
                $action = New-ScheduledTaskAction -Execute (Join-Path $env:SystemRoot 'System32\dism.exe') `
                    -Argument "/Online /Set-Edition:$TargetEdition /ProductKey:$Key /AcceptEula /Quiet"
                # As SYSTEM, whoever is logged on (New-ScheduledTaskPrincipal -LogonType ServiceAccount, -RunLevel
                # Highest), named by its SID: the name "NT AUTHORITY\SYSTEM" is localized on other languages (UNCONFIRMED).
                # Register-ScheduledTask's doc lists "the well-known security identifiers (SIDs)" of SYSTEM among
                # the accounts it knows; a SID as -UserId is UNCONFIRMED by a Microsoft sentence (Task Scheduler's
                # built-in task files carry <UserId>S-1-5-18</UserId>, as observed). One instance at a time; the
                # default limit is 3 days, DISM gets 2 hours (New-ScheduledTaskSettingsSet -ExecutionTimeLimit, -MultipleInstances
                # IgnoreNew, https://learn.microsoft.com/powershell/module/scheduledtasks/new-scheduledtasksettingsset).
                # Register-ScheduledTask creates the \avma-tui\ folder when it is missing (UNCONFIRMED).
                $principal = New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -LogonType ServiceAccount -RunLevel Highest
                $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit (New-TimeSpan -Hours 2) -MultipleInstances IgnoreNew
                # https://learn.microsoft.com/powershell/module/scheduledtasks/register-scheduledtask (-Force replaces
                # an earlier, finished run's task).
                $null = Register-ScheduledTask -TaskPath $taskPath -TaskName $taskName -Action $action `
                    -Principal $principal -Settings $settings -Force
                Start-ScheduledTask -TaskPath $taskPath -TaskName $taskName
            }
            $guest = [ordered]@{ started = $true; task = $taskPath + $taskName }
        } catch {
            $guest = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
        }
        ConvertTo-Json -InputObject $guest -Depth 4 -Compress
    }
    $guest = ConvertFrom-Json -InputObject ([string]$answer)
    if ($null -ne $guest.error) { $document = [ordered]@{ error = $guest.error } }
    else { $document = [ordered]@{ vm_id = $VmId.ToString(); started = [bool]$guest.started; task = [string]$guest.task } }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
