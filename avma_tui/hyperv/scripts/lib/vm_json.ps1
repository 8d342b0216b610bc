# lib/vm_json.ps1, shared by inventory, vm, enable_kvp and start_vm: one VM as an element of inventory.vms.
function Test-KvpService($Service) {
    # The Key-Value Pair Exchange integration service, by GUID: its Name is localized.
    $Service.Id.EndsWith('2A34B1C2-FD73-4043-8A5B-DD2159BC743F', [StringComparison]::OrdinalIgnoreCase)
}

function Get-IntrinsicItems($Component) {
    # GuestIntrinsicExchangeItems are embedded Msvm_KvpExchangeDataItem CIM-XML strings; skip any that do not parse.
    $map = [ordered]@{}
    if ($null -eq $Component) { return $map }
    foreach ($raw in @($Component.GuestIntrinsicExchangeItems)) {
        if ([string]::IsNullOrEmpty($raw)) { continue }
        try { $doc = [xml]$raw } catch { continue }
        $nameNode = $doc.SelectSingleNode("/INSTANCE/PROPERTY[@NAME='Name']/VALUE")
        if ($null -eq $nameNode) { continue }
        $dataNode = $doc.SelectSingleNode("/INSTANCE/PROPERTY[@NAME='Data']/VALUE")
        $data = ''
        if ($null -ne $dataNode) { $data = $dataNode.InnerText.TrimEnd("`r", "`n") }
        $map[$nameNode.InnerText] = $data
    }
    $map
}

function New-VmDocument($Vm, $Service, $Component) {
    # $Service: the VM's KVP integration service; $Component: its Msvm_KvpExchangeComponent (either may be $null).
    $enabled = $false
    $status = $null
    if ($null -ne $Service) {
        $enabled = [bool]$Service.Enabled
        # Hyper-V reports no operational status for a VM that is not running.
        if ($enabled -and [string]$Vm.State -eq 'Running' -and $null -ne $Service.PrimaryOperationalStatus) {
            $status = [string]$Service.PrimaryOperationalStatus
        }
    }
    $intrinsic = [ordered]@{}
    if ([string]$Vm.State -eq 'Running') { $intrinsic = Get-IntrinsicItems $Component }
    [ordered]@{
        id         = $Vm.Id.ToString()
        name       = $Vm.Name
        state      = [string]$Vm.State
        generation = [int]$Vm.Generation
        kvp        = [ordered]@{ enabled = $enabled; status = $status }
        intrinsic  = $intrinsic
        error      = $null   # an error record when this VM alone failed mid-read (inventory.ps1)
    }
}
