<#
  start_vm — start the VM, or resume it when it is Paused (without waiting for the guest to boot).
  Parameters: VmId.
  Writes one JSON document: {"vm": VM}   # state may still be Starting
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId
)

$ErrorActionPreference = 'Stop'

#include lib/vm_json.ps1
#include lib/single_vm.ps1

$vm = Get-VM -Id $VmId
if ($vm.State -eq 'Paused') {
    Resume-VM -VM $vm
} else {
    Start-VM -VM $vm   # Off starts; Saved restores its saved state
}
[ordered]@{ vm = Get-VmDocument $vm } | ConvertTo-Json -Depth 6 -Compress
