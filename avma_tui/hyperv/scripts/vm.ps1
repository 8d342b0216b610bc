<#
  vm — one VM, shaped like an element of inventory.vms (docs/operations.md); used to verify a change.
  Parameters: VmId (the VM's Id; never a name, which Get-VM would treat as a wildcard pattern).
  Writes one JSON document:
    {"id", "name", "state", "generation", "kvp": {"enabled", "status"}, "intrinsic": {NAME: DATA}}
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
    $document = Get-VmDocument (Hyper-V\Get-VM -Id $VmId)
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
