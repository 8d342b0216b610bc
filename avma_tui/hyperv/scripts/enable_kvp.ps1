<#
  enable_kvp — turn on the VM's Key-Value Pair Exchange (Data Exchange) integration service.
  Parameters: VmId.
  Writes one JSON document: {"vm": VM}   # VM as in inventory.vms, read after the change
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId
)

$ErrorActionPreference = 'Stop'

#include lib/vm_json.ps1
#include lib/single_vm.ps1

$vm = Get-VM -Id $VmId
$service = Get-KvpService $vm
if ($null -eq $service) { throw 'The Key-Value Pair Exchange integration service was not found on this virtual machine.' }
$service | Enable-VMIntegrationService
[ordered]@{ vm = Get-VmDocument $vm } | ConvertTo-Json -Depth 6 -Compress
