<#
  inventory — the whole host in one round trip (docs/operations.md).
  Parameters: none.
  Writes one JSON document:
    {"host": {"name", "domain", "os_name", "build", "sku", "license_status", "partial_product_key",
              "hyperv", "virtual"},
     "cluster": null | {"name", "nodes": [{"name", "build", "sku", "license_status", "reachable", "error"}]},
     "vms": [{"id", "name", "state", "generation", "kvp": {"enabled", "status"}, "intrinsic": {NAME: DATA}}],
     "events": [{"time", "vm_name", "vm_id", "notification", "message"}]}   # event 12310, newest first
  Every value from a guest (intrinsic KVP items) is passed through as data, never evaluated.
#>
param()

$ErrorActionPreference = 'Stop'

# The Key-Value Pair Exchange integration service, by GUID: its Name is localized.
$KvpServiceId = '2A34B1C2-FD73-4043-8A5B-DD2159BC743F'
$Notifications = @('AVMA Success', 'Invalid Host', 'Invalid Data', 'Activation Denied')

function ConvertTo-IsoTime([datetime]$Time) {
    $Time.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture)
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

function Get-VmDocument($Vm, $KvpServices, $KvpComponents) {
    $service = $KvpServices | Where-Object { $_.VMId -eq $Vm.Id } | Select-Object -First 1
    $component = $KvpComponents | Where-Object { $_.SystemName -eq $Vm.Id.ToString() } | Select-Object -First 1
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
    if ([string]$Vm.State -eq 'Running') { $intrinsic = Get-IntrinsicItems $component }
    [ordered]@{
        id         = $Vm.Id.ToString()
        name       = $Vm.Name
        state      = [string]$Vm.State
        generation = [int]$Vm.Generation
        kvp        = [ordered]@{ enabled = $enabled; status = $status }
        intrinsic  = $intrinsic
    }
}

function Get-WindowsLicense([string]$ComputerName) {
    $query = @{
        ClassName = 'SoftwareLicensingProduct'
        Filter    = "ApplicationID='55c92734-d682-4d71-983e-d6ec3f16059f' AND PartialProductKey IS NOT NULL"
    }
    if ($ComputerName) { $query.ComputerName = $ComputerName; $query.OperationTimeoutSec = 15 }
    Get-CimInstance @query | Select-Object -First 1
}

function Get-HostDocument([bool]$HyperV) {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cs = Get-CimInstance -ClassName Win32_ComputerSystem
    $license = Get-WindowsLicense ''
    $domain = ''
    if ($cs.PartOfDomain) { $domain = [string]$cs.Domain }
    [ordered]@{
        name                = [string]$os.CSName
        domain              = $domain
        os_name             = [string]$os.Caption
        build               = [int]$os.BuildNumber
        sku                 = [int]$os.OperatingSystemSKU
        license_status      = if ($license) { [int]$license.LicenseStatus } else { 0 }
        partial_product_key = if ($license) { [string]$license.PartialProductKey } else { $null }
        hyperv              = $HyperV
        virtual             = ([string]$cs.Model -match 'Virtual Machine|VMware|KVM|HVM domU|VirtualBox')
    }
}

function Get-ClusterDocument([string]$HostName) {
    if (-not (Get-Command -Name Get-ClusterNode -ErrorAction SilentlyContinue)) { return $null }
    try {
        $cluster = Get-Cluster
        $nodes = @(Get-ClusterNode)
    } catch {
        return $null   # the module is installed but this host is not clustered
    }
    $others = New-Object System.Collections.Generic.List[object]
    foreach ($node in $nodes) {
        if ([string]$node.Name -eq $HostName) { continue }
        $entry = [ordered]@{ name = [string]$node.Name; build = $null; sku = $null; license_status = $null
                             reachable = $true; error = $null }
        try {
            $os = Get-CimInstance -ClassName Win32_OperatingSystem -ComputerName $node.Name -OperationTimeoutSec 15
            $license = Get-WindowsLicense ([string]$node.Name)
            $entry.build = [int]$os.BuildNumber
            $entry.sku = [int]$os.OperatingSystemSKU
            $entry.license_status = if ($license) { [int]$license.LicenseStatus } else { 0 }
        } catch {
            $entry.reachable = $false
            $entry.error = $_.Exception.Message
        }
        $others.Add($entry)
    }
    [ordered]@{ name = [string]$cluster.Name; nodes = $others }
}

function Get-EventDocuments($Vms) {
    $byId = @{}
    $byName = @{}
    foreach ($vm in $Vms) { $byId[$vm.Id.ToString()] = $vm; $byName[$vm.Name] = $vm }
    $events = New-Object System.Collections.Generic.List[object]
    # No event 12310 at all is an error for Get-WinEvent: that is the "none" answer here.
    $found = @(Get-WinEvent -FilterHashtable @{ LogName = 'Application'; Id = 12310 } -MaxEvents 200 `
        -ErrorAction SilentlyContinue)
    foreach ($record in $found) {
        $message = [string]$record.Message
        # The event layout is not documented: find the VM among the insertion strings, by Id first.
        $vm = $null
        foreach ($property in @($record.Properties)) {
            $text = ([string]$property.Value).Trim('{', '}', ' ')
            $parsed = [guid]::Empty
            if ([guid]::TryParse($text, [ref]$parsed) -and $byId.ContainsKey($parsed.ToString())) {
                $vm = $byId[$parsed.ToString()]; break
            }
            if ($null -eq $vm -and $byName.ContainsKey($text)) { $vm = $byName[$text] }
        }
        $notification = $Notifications | Where-Object { $message.IndexOf($_, [StringComparison]::OrdinalIgnoreCase) -ge 0 } |
            Select-Object -First 1
        if (-not $notification) { $notification = ($message -split "`n")[0].Trim() }
        $events.Add([ordered]@{
            time         = ConvertTo-IsoTime $record.TimeCreated
            vm_name      = if ($vm) { $vm.Name } else { $null }
            vm_id        = if ($vm) { $vm.Id.ToString() } else { $null }
            notification = $notification
            message      = $message
        })
    }
    , $events   # the comma keeps an empty or one-element list a list
}

$hyperV = [bool](Get-Command -Name Get-VM -ErrorAction SilentlyContinue)
$hostDoc = Get-HostDocument $hyperV
$vmDocs = New-Object System.Collections.Generic.List[object]
$vms = @()
if ($hyperV) {
    $vms = @(Get-VM)
    $kvpServices = @()
    if ($vms.Count -gt 0) {
        $kvpServices = @(Get-VMIntegrationService -VM $vms | Where-Object {
            $_.Id.EndsWith($KvpServiceId, [StringComparison]::OrdinalIgnoreCase) })
    }
    $kvpComponents = @(Get-CimInstance -Namespace root/virtualization/v2 -ClassName Msvm_KvpExchangeComponent)
    foreach ($vm in $vms) { $vmDocs.Add((Get-VmDocument $vm $kvpServices $kvpComponents)) }
}

[ordered]@{
    host    = $hostDoc
    cluster = Get-ClusterDocument $hostDoc.name
    vms     = $vmDocs
    events  = Get-EventDocuments $vms
} | ConvertTo-Json -Depth 6 -Compress
