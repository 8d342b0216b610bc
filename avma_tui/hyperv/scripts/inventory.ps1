<#
  inventory — the whole host in one round trip (docs/operations.md).
  Parameters: none.
  Writes one JSON document:
    {"host": {"name", "domain", "os_name", "build", "sku", "license_status", "partial_product_key",
              "hyperv", "virtual"},
     "cluster": null | {"name", "nodes": [{"name", "state"}]},   # the client reads each node (host_info)
     "vms": [{"id", "name", "state", "generation", "kvp": {"enabled", "status"}, "intrinsic": {NAME: DATA}}],
     "events": [{"time", "vm_name", "vm_id", "notification", "message"}]}   # event 12310, newest first
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors"
  Every value from a guest (intrinsic KVP items) is passed through as data, never evaluated.
#>
param()

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1
#include lib/vm_json.ps1
#include lib/windows_license.ps1
#include lib/host_license.ps1

$Notifications = @('AVMA Success', 'Invalid Host', 'Invalid Data', 'Activation Denied')

function ConvertTo-IsoTime([datetime]$Time) {
    $Time.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture)
}

function Get-ClusterDocument([string]$HostName) {
    if (-not (Get-Command -Name Get-ClusterNode -ErrorAction SilentlyContinue)) { return $null }
    try {
        $cluster = Get-Cluster
        $nodes = @(Get-ClusterNode)
    } catch {
        return $null   # the module is installed but this host is not clustered
    }
    # Only each node's name and cluster state: the client reads the nodes over connections of its own
    # (host_info), never from here — that would be a second hop without credentials (PowerShell-Docs,
    # reference/docs-conceptual/security/remoting/PS-remoting-second-hop.md). State is Up, Down, Paused
    # or Joining (ClusterNode.State; https://learn.microsoft.com/powershell/module/failoverclusters/get-clusternode).
    $others = New-Object System.Collections.Generic.List[object]
    foreach ($node in $nodes) {
        if ([string]$node.Name -eq $HostName) { continue }
        $others.Add([ordered]@{ name = [string]$node.Name; state = [string]$node.State })
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
        $notification = $null
        foreach ($name in $Notifications) {
            if ($message.IndexOf($name, [StringComparison]::OrdinalIgnoreCase) -ge 0) { $notification = $name; break }
        }
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

try {
    $hyperV = Test-HyperV
    $hostDoc = Get-HostDocument $hyperV
    $vmDocs = New-Object System.Collections.Generic.List[object]
    $vms = @()
    if ($hyperV) {
        $vms = @(Hyper-V\Get-VM)
        # O(N): each VM's KVP service and KVP component found in a hashtable keyed by the VM's Id, never by a
        # pipeline over all of them per VM. SystemName is the VM's Id (Msvm_ComputerSystem.Name;
        # learn.microsoft.com/windows/win32/hyperv_v2/msvm-kvpexchangecomponent).
        $serviceByVm = @{}
        if ($vms.Count -gt 0) {
            # A VM deleted since Get-VM fails only its own part: SilentlyContinue, and that VM reads as it was.
            foreach ($service in @(Hyper-V\Get-VMIntegrationService -VM $vms -ErrorAction SilentlyContinue)) {
                if (Test-KvpService $service) { $serviceByVm[$service.VMId.ToString()] = $service }
            }
        }
        $componentByVm = @{}
        $kvpQuery = @{
            Namespace = 'root/virtualization/v2'
            ClassName = 'Msvm_KvpExchangeComponent'
            Property  = @('SystemName', 'GuestIntrinsicExchangeItems')
        }
        foreach ($component in @(Get-CimInstance @kvpQuery)) {
            $parsed = [guid]::Empty
            if ([guid]::TryParse([string]$component.SystemName, [ref]$parsed)) { $componentByVm[$parsed.ToString()] = $component }
        }
        foreach ($vm in $vms) {
            $key = $vm.Id.ToString()
            try {
                $vmDocs.Add((New-VmDocument $vm $serviceByVm[$key] $componentByVm[$key]))
            } catch {
                # This VM alone (it vanished or failed mid-read) gets its error; the rest of the inventory stands.
                $vmDocs.Add([ordered]@{ id = $key; name = [string]$vm.Name; state = 'Unknown'; generation = $null
                                        kvp = $null; intrinsic = $null; error = ConvertTo-ErrorDocument $_ })
            }
        }
    }
    $document = [ordered]@{
        host    = $hostDoc
        cluster = Get-ClusterDocument $hostDoc.name
        vms     = $vmDocs
        events  = Get-EventDocuments $vms
    }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
