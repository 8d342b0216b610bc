<#
  conversion_status — how the guest's edition conversion task (set_edition.ps1's \avma-tui\set-edition) stands.
  Parameters: VmId, Credential.
  Writes one JSON document: {"vm_id", "task": {"state", "last_result"}}   # task: null when there is none
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors", made where the error happened
  state: the task's State (Ready, Running, Disabled, Queued, Unknown); last_result: its LastTaskResult as uint32,
  the exit code of DISM's last run (Get-ScheduledTaskInfo "gets the last run-time information for a scheduled
  task", an MSFT_TaskDynamicInfo, https://learn.microsoft.com/powershell/module/scheduledtasks/get-scheduledtaskinfo;
  its property name LastTaskResult is UNCONFIRMED by that page: absent, last_result is 0 and nothing is concluded).
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1

try {
    $answer = Invoke-Command -VMId $VmId -Credential $Credential -ScriptBlock {
        $ErrorActionPreference = 'Stop'
        #include lib/errors.ps1
        try {
            $task = Get-ScheduledTask -TaskPath '\avma-tui\' -TaskName 'set-edition' -ErrorAction SilentlyContinue
            if ($null -eq $task) { $guest = [ordered]@{ task = $null } }
            else {
                $info = Get-ScheduledTaskInfo -InputObject $task
                $guest = [ordered]@{ task = [ordered]@{
                        state       = [string]$task.State
                        last_result = ConvertTo-UInt32 ([int64]$info.LastTaskResult)
                    } }
            }
        } catch {
            $guest = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
        }
        ConvertTo-Json -InputObject $guest -Depth 4 -Compress
    }
    $guest = ConvertFrom-Json -InputObject ([string]$answer)
    if ($null -ne $guest.error) { $document = [ordered]@{ error = $guest.error } }
    else { $document = [ordered]@{ vm_id = $VmId.ToString(); task = $guest.task } }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
