<#
  enable_kvp — turn on the VM's Key-Value Pair Exchange (Data Exchange) integration service.
  Parameters: VmId.
  Writes one JSON document: {"vm": VM}   # VM as in inventory.vms, read after the change
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors"
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId
)

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1
#include lib/vm_json.ps1
#include lib/single_vm.ps1

try {
    $vm = Hyper-V\Get-VM -Id $VmId
    $service = Get-KvpService $vm
    if ($null -eq $service) {
        throw (New-ToolError 'KvpServiceNotFound' 0x80070490 'The Key-Value Pair Exchange integration service was not found on this virtual machine.' $VmId)
    }
    $service | Hyper-V\Enable-VMIntegrationService
    $document = [ordered]@{ vm = Get-VmDocument $vm }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
