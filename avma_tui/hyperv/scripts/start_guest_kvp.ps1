<#
  start_guest_kvp — start the Hyper-V Data Exchange service (vmickvpexchange) inside the guest, over PowerShell Direct.
  Parameters: VmId, Credential.
  Writes one JSON document: {"vm_id", "service": "Running"}
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors", made where the error happened
  The guest side gets its data through -ArgumentList and param(), never through script text.
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
            Set-Service -Name vmickvpexchange -StartupType Manual
            Start-Service -Name vmickvpexchange
            $guest = [ordered]@{ service = [string](Get-Service -Name vmickvpexchange).Status }
        } catch {
            $guest = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
        }
        ConvertTo-Json -InputObject $guest -Depth 4 -Compress
    }
    $guest = ConvertFrom-Json -InputObject ([string]$answer)
    if ($null -ne $guest.error) { $document = [ordered]@{ error = $guest.error } }
    else { $document = [ordered]@{ vm_id = $VmId.ToString(); service = [string]$guest.service } }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
