# lib/single_vm.ps1, shared by vm, enable_kvp and start_vm (with lib/vm_json.ps1): one VM, read by itself.
function Get-KvpService($Vm) {
    foreach ($service in @(Hyper-V\Get-VMIntegrationService -VM $Vm)) {
        if (Test-KvpService $service) { return $service }
    }
    $null
}

function Get-VmDocument($Vm) {
    $Vm = Hyper-V\Get-VM -Id $Vm.Id   # re-read: the state may have changed
    $service = Get-KvpService $Vm
    $component = $null
    if ([string]$Vm.State -eq 'Running') {
        # Only this VM's component, filtered by the host: SystemName is the VM's Id (Msvm_ComputerSystem.Name;
        # learn.microsoft.com/windows/win32/hyperv_v2/msvm-kvpexchangecomponent). The Id is a [guid], never text.
        $query = @{
            Namespace = 'root/virtualization/v2'
            ClassName = 'Msvm_KvpExchangeComponent'
            Filter    = "SystemName = '" + $Vm.Id.ToString() + "'"
            Property  = @('SystemName', 'GuestIntrinsicExchangeItems')
        }
        $component = @(Get-CimInstance @query) | Select-Object -First 1
    }
    New-VmDocument $Vm $service $component
}
