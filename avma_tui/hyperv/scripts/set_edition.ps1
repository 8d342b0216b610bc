<#
  set_edition — convert the guest's edition (DISM /Online /Set-Edition) with the given key; the guest then restarts.
  Parameters: VmId, Edition (ServerStandard | ServerDatacenter), ProductKey, Credential.
  Writes one JSON document: {"vm_id", "rebooting": true}
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors", made where the error happened
  The guest side gets its data through -ArgumentList and param(), never through script text.
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
            # Validated again here: these become DISM arguments (argv entries, never parsed as PowerShell).
            if ($TargetEdition -notin @('ServerStandard', 'ServerDatacenter')) {
                throw (New-ToolError 'DismFailed' 0x80070057 'Unsupported edition.')
            }
            if ($Key -notmatch '^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$') {
                throw (New-ToolError 'DismFailed' 0xC004F050 'The Software Licensing Service reported that the product key is invalid.')
            }
            # Windows PowerShell turns a native command's stderr into errors, which 'Stop' would make fatal.
            $ErrorActionPreference = 'Continue'
            $output = & dism.exe /Online "/Set-Edition:$TargetEdition" "/ProductKey:$Key" /AcceptEula /Quiet /NoRestart 2>&1
            $exit = $LASTEXITCODE
            $ErrorActionPreference = 'Stop'
            if ($exit -ne 0 -and $exit -ne 3010) {
                # DISM's exit code is a Win32 error (50 ERROR_NOT_SUPPORTED, 87 ERROR_INVALID_PARAMETER): as an
                # HRESULT_FROM_WIN32 unless it is an HRESULT already; the message is DISM's own output.
                $code = if ($exit -gt 0 -and $exit -le 0xFFFF) { 0x80070000 -bor $exit } else { $exit }
                throw (New-ToolError 'DismFailed' $code (($output | Out-String).Trim()))
            }
            # Restart a moment later so this session can return its answer first.
            & shutdown.exe /r /t 15 /c 'avma-tui: edition change' /d p:2:4 | Out-Null
            $guest = [ordered]@{ rebooting = $true }
        } catch {
            $guest = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
        }
        ConvertTo-Json -InputObject $guest -Depth 4 -Compress
    }
    $guest = ConvertFrom-Json -InputObject ([string]$answer)
    if ($null -ne $guest.error) { $document = [ordered]@{ error = $guest.error } }
    else { $document = [ordered]@{ vm_id = $VmId.ToString(); rebooting = [bool]$guest.rebooting } }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
