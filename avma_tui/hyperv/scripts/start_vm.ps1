<#
  start_vm — start the VM, or resume it when it is Paused (without waiting for the guest to boot).
  Parameters: VmId.
  Writes one JSON document: {"vm": VM}   # state may still be Starting
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
    if ($vm.State -eq 'Paused') {
        Hyper-V\Resume-VM -VM $vm
    } else {
        Hyper-V\Start-VM -VM $vm   # Off starts; Saved restores its saved state
    }
    $document = [ordered]@{ vm = Get-VmDocument $vm }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
