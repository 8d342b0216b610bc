<#
  start_guest_kvp — start the Hyper-V Data Exchange service (vmickvpexchange) inside the guest, over PowerShell Direct.
  Parameters: VmId, Credential.
  Writes one JSON document: {"vm_id", "service": "Running"}
  The guest side gets its data through -ArgumentList and param(), never through script text.
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

$status = Invoke-Command -VMId $VmId -Credential $Credential -ScriptBlock {
    $ErrorActionPreference = 'Stop'
    Set-Service -Name vmickvpexchange -StartupType Manual
    Start-Service -Name vmickvpexchange
    [string](Get-Service -Name vmickvpexchange).Status
}
[ordered]@{ vm_id = $VmId.ToString(); service = [string]$status } | ConvertTo-Json -Depth 6 -Compress
