# lib/single_vm.ps1, shared by vm, enable_kvp and start_vm (with lib/vm_json.ps1): one VM, read by itself.
function Get-KvpService($Vm) {
    Get-VMIntegrationService -VM $Vm | Where-Object { Test-KvpService $_ } | Select-Object -First 1
}

function Get-VmDocument($Vm) {
    $Vm = Get-VM -Id $Vm.Id   # re-read: the state may have changed
    $service = Get-KvpService $Vm
    $component = $null
    if ([string]$Vm.State -eq 'Running') {
        $component = Get-CimInstance -Namespace root/virtualization/v2 -ClassName Msvm_KvpExchangeComponent |
            Where-Object { $_.SystemName -eq $Vm.Id.ToString() } | Select-Object -First 1
    }
    New-VmDocument $Vm $service $component
}
