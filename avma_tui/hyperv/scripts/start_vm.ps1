<#
  start_vm — start the VM (without waiting for the guest to boot).
  Parameters: VmId.
  Writes one JSON document: {"vm": VM}   # state may still be Starting
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId
)

$ErrorActionPreference = 'Stop'

# The Key-Value Pair Exchange integration service, by GUID: its Name is localized.
$KvpServiceId = '2A34B1C2-FD73-4043-8A5B-DD2159BC743F'

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

function Get-KvpService($Vm) {
    Get-VMIntegrationService -VM $Vm | Where-Object {
        $_.Id.EndsWith($KvpServiceId, [StringComparison]::OrdinalIgnoreCase) } | Select-Object -First 1
}

function Get-VmDocument($Vm) {
    $Vm = Get-VM -Id $Vm.Id   # re-read: the state may have changed
    $service = Get-KvpService $Vm
    $enabled = $false
    $status = $null
    if ($null -ne $service) {
        $enabled = [bool]$service.Enabled
        # Hyper-V reports no operational status for a VM that is not running.
        if ($enabled -and [string]$Vm.State -eq 'Running' -and $null -ne $service.PrimaryOperationalStatus) {
            $status = [string]$service.PrimaryOperationalStatus
        }
    }
    $intrinsic = [ordered]@{}
    if ([string]$Vm.State -eq 'Running') {
        $component = Get-CimInstance -Namespace root/virtualization/v2 -ClassName Msvm_KvpExchangeComponent |
            Where-Object { $_.SystemName -eq $Vm.Id.ToString() } | Select-Object -First 1
        $intrinsic = Get-IntrinsicItems $component
    }
    [ordered]@{
        id         = $Vm.Id.ToString()
        name       = $Vm.Name
        state      = [string]$Vm.State
        generation = [int]$Vm.Generation
        kvp        = [ordered]@{ enabled = $enabled; status = $status }
        intrinsic  = $intrinsic
    }
}

$vm = Get-VM -Id $VmId
Start-VM -VM $vm
[ordered]@{ vm = Get-VmDocument $vm } | ConvertTo-Json -Depth 6 -Compress
