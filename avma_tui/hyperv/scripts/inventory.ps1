<#
  inventory — the whole host in one round trip (docs/operations.md).
  Parameters: none.
  Writes one JSON document:
    {"host": {"name", "domain", "os_name", "build", "sku", "license_status", "partial_product_key",
              "hyperv", "virtual"},
     "cluster": null | {"name", "nodes": [{"name", "state"}]},   # the client reads each node (host_info)
     "vms": [{"id", "name", "state", "generation", "kvp": {"enabled", "status"}, "intrinsic": {NAME: DATA}}],
     "events": [{"time", "data": [{"name": null | NAME, "value"}], "message"}]}   # event 12310, newest first
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors"
  Every value from a guest (intrinsic KVP items) is passed through as data, never evaluated.
#>
param()

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1
#include lib/vm_json.ps1
#include lib/windows_license.ps1
#include lib/host_license.ps1

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

function Get-EventDocuments {
    # Event 12310, AVMA's record on the host's Application log (learn.microsoft.com/windows-server/get-started/
    # automatic-vm-activation: "logged on the virtualization host in Event Viewer in the Application log with Event
    # ID 12310"), filtered by its provider so another provider's 12310 is never read. The provider is the Software
    # Protection Platform's, Microsoft-Windows-Security-SPP (source "Software Protection Platform Service", message
    # file sppsvc.exe, Application log: libyal/winevt-kb Provider-Microsoft-Windows-Security-SPP.md; its events
    # 12311 and 1003 are logged there under that name, Microsoft-Windows-Security-SPP). That 12310 is this
    # provider's is UNCONFIRMED by a Microsoft page: a host whose 12310 events come from another provider shows none.
    # The event's data layout is not documented (UNCONFIRMED): every <Data> element of ToXml() is sent as it is,
    # named or positional, and the tool decodes it (hyperv/host.py decode_event) without reading the message,
    # which is in the host's language. No event at all is an error for Get-WinEvent: that is the "none" answer.
    $filter = @{ LogName = 'Application'; ProviderName = 'Microsoft-Windows-Security-SPP'; Id = 12310 }
    $events = New-Object System.Collections.Generic.List[object]
    foreach ($record in @(Get-WinEvent -FilterHashtable $filter -MaxEvents 200 -ErrorAction SilentlyContinue)) {
        $data = New-Object System.Collections.Generic.List[object]
        $xml = [xml]$record.ToXml()
        foreach ($node in @($xml.DocumentElement.ChildNodes)) {
            if ($node.LocalName -ne 'EventData') { continue }
            foreach ($item in @($node.ChildNodes)) {
                if ($item.LocalName -ne 'Data' -or $data.Count -ge 32) { continue }
                $name = $item.GetAttribute('Name')
                $data.Add([ordered]@{ name = if ($name) { $name } else { $null }; value = [string]$item.InnerText })
            }
        }
        $events.Add([ordered]@{
            time    = ConvertTo-IsoTime $record.TimeCreated
            data    = $data
            message = [string]$record.Message
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
        events  = Get-EventDocuments
    }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
