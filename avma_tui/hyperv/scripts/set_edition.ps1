<#
  set_edition — convert the guest's edition (DISM /Online /Set-Edition) with the given key; the guest then restarts.
  Parameters: VmId, Edition (ServerStandard | ServerDatacenter), ProductKey, Credential.
  Writes one JSON document: {"vm_id", "rebooting": true}
  The guest side gets its data through -ArgumentList and param(), never through script text.
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][ValidateSet('ServerStandard', 'ServerDatacenter')][string]$Edition,
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$')][string]$ProductKey,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

$rebooting = Invoke-Command -VMId $VmId -Credential $Credential -ArgumentList $Edition, $ProductKey -ScriptBlock {
    param([string]$TargetEdition, [string]$Key)
    $ErrorActionPreference = 'Stop'
    # Validated again here: these become DISM arguments (argv entries, never parsed as PowerShell).
    if ($TargetEdition -notin @('ServerStandard', 'ServerDatacenter')) { throw 'Unsupported edition.' }
    if ($Key -notmatch '^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$') { throw 'The product key is malformed (0xC004F050).' }
    # Windows PowerShell turns a native command's stderr into errors, which 'Stop' would make fatal.
    $ErrorActionPreference = 'Continue'
    $output = & dism.exe /Online "/Set-Edition:$TargetEdition" "/ProductKey:$Key" /AcceptEula /Quiet /NoRestart 2>&1
    $exit = $LASTEXITCODE
    $ErrorActionPreference = 'Stop'
    if ($exit -ne 0 -and $exit -ne 3010) {
        throw ('DISM failed with exit code {0}: {1}' -f $exit, (($output | Out-String).Trim()))
    }
    # Restart a moment later so this session can return its answer first.
    & shutdown.exe /r /t 15 /c 'avma-tui: edition change' /d p:2:4 | Out-Null
    $true
}
[ordered]@{ vm_id = $VmId.ToString(); rebooting = [bool]$rebooting } | ConvertTo-Json -Depth 6 -Compress
