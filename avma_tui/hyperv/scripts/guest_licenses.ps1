<#
  guest_licenses — the Windows license of many guests in one round trip, over PowerShell Direct.
  Parameters: VmIds (Id strings), Credential (the guest account).
  Writes one JSON document:
    {"licenses": [{"vm_id", "license": LICENSE | null, "error": null | ERROR, "os": OS | null}]}   or {"error": ERROR}
  LICENSE: {"name", "description", "license_status", "license_status_reason", "grace_minutes",
            "partial_product_key", "product_key_channel", "avma_host", "avma_last_activation"}
  OS: the guest's Win32_OperatingSystem {"caption", "build_number", "sku", "product_type"}, read in the same
      session; null when that query failed (its failure never costs the license).
  ERROR: an error record (docs/operations.md "Errors"). Every guest that cannot be read gets its own error,
  tied to it by the VM's GUID; the others are still read.
#>
param(
    [Parameter(Mandatory = $true)][guid[]]$VmIds,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1

$guestScript = {
    $ErrorActionPreference = 'Stop'
    #include lib/errors.ps1
    #include lib/windows_license.ps1
    #include lib/guest_license.ps1
    #include lib/guest_os.ps1
    # A JSON string survives the trip back intact (nested dictionaries would be deserialized loosely); the
    # error record is made here, where the CimException still has its ErrorData.
    $guest = [ordered]@{ license = $null; error = $null; os = $null }
    try { $guest.os = Get-GuestOsDocument } catch { $guest.os = $null }
    try {
        $guest.license = Get-LicenseDocument
    } catch {
        $guest.error = ConvertTo-ErrorDocument $_
    }
    ConvertTo-Json -InputObject $guest -Depth 4 -Compress
}

$results = [ordered]@{}
foreach ($id in $VmIds) { $results[$id.ToString()] = [ordered]@{ vm_id = $id.ToString(); license = $null; error = $null; os = $null } }

function Set-VmError([string]$VmId, $Record) {
    if ($results.Contains($VmId) -and $null -eq $results[$VmId].error) { $results[$VmId].error = ConvertTo-ErrorDocument $Record }
}

$sessions = New-Object System.Collections.Generic.List[object]
try {
    # All sessions at once (New-PSSession opens them concurrently, throttled at 32). An open failure's TargetObject
    # is the failed RemoteRunspace, whose ConnectionInfo.VMGuid names its VM (PowerShell/PowerShell
    # newrunspacecommand.cs HandleRunspaceStateChanged; RunspaceConnectionInfo.cs VMConnectionInfo).
    $openErrors = $null
    $opened = @(New-PSSession -VMId $VmIds -Credential $Credential -ErrorAction SilentlyContinue -ErrorVariable openErrors)
    $byVm = @{}
    foreach ($session in $opened) { $sessions.Add($session); $byVm[$session.VMId.ToString()] = $session }
    foreach ($record in @($openErrors)) {
        $parsed = [guid]::Empty
        $target = Get-ErrorTarget $record.TargetObject
        if ($target -and [guid]::TryParse($target, [ref]$parsed)) { Set-VmError $parsed.ToString() $record }
    }
    # Errors raised before any connection (no such VM, VM not running) carry no target (TargetObject null,
    # newrunspacecommand.cs CreateRunspacesWhenVMParameterSpecified): ask once more for each such VM alone,
    # so its error is its own. These fail before a logon, so no guest sees a second attempt.
    foreach ($entry in $results.Values) {
        if ($byVm.ContainsKey($entry.vm_id) -or $null -ne $entry.error) { continue }
        $oneError = $null
        $one = @(New-PSSession -VMId ([guid]$entry.vm_id) -Credential $Credential -ErrorAction SilentlyContinue -ErrorVariable oneError)
        if ($one.Count -gt 0) { $sessions.Add($one[0]); $byVm[$entry.vm_id] = $one[0] }
        elseif (@($oneError).Count -gt 0) { Set-VmError $entry.vm_id @($oneError)[0] }
        else { Set-VmError $entry.vm_id (New-ToolError 'NoSession' 0x80004005 'PowerShell Direct opened no session and reported no error.' $entry.vm_id) }
    }

    if ($sessions.Count -gt 0) {
        $byRunspace = @{}
        $byName = @{}
        foreach ($vmId in @($byVm.Keys)) {
            $session = $byVm[$vmId]
            $byRunspace[$session.InstanceId.ToString()] = $vmId
            $name = [string]$session.ComputerName
            $byName[$name] = if ($byName.ContainsKey($name)) { $null } else { $vmId }   # names need not be unique
        }
        $runErrors = $null
        $answers = @(Invoke-Command -Session $sessions.ToArray() -ScriptBlock $guestScript -ThrottleLimit 16 `
            -ErrorAction SilentlyContinue -ErrorVariable runErrors)
        $answered = @{}
        foreach ($answer in $answers) {
            $vmId = $byRunspace[[string]$answer.RunspaceId]
            if ($null -eq $vmId) { continue }
            $guest = ConvertFrom-Json -InputObject ([string]$answer)
            if ($null -ne $guest.error) { $results[$vmId].error = $guest.error } else { $results[$vmId].license = $guest.license }
            $results[$vmId].os = $guest.os
            $answered[$vmId] = $true
        }
        # A session that broke while running: its error's OriginInfo.RunspaceID is the session's (Job.cs
        # HandleErrorReady), or its TargetObject the VM's name (Job.cs ProcessJobFailure).
        foreach ($record in @($runErrors)) {
            $vmId = $null
            if ($record.PSObject.Properties['OriginInfo'] -and $record.OriginInfo) { $vmId = $byRunspace[$record.OriginInfo.RunspaceID.ToString()] }
            if ($null -eq $vmId -and $record.TargetObject -is [string]) { $vmId = $byName[$record.TargetObject] }
            if ($null -ne $vmId -and -not $answered.ContainsKey($vmId)) { Set-VmError $vmId $record }
        }
        foreach ($vmId in @($byVm.Keys)) {
            if (-not $answered.ContainsKey($vmId)) {
                Set-VmError $vmId (New-ToolError 'NoAnswer' 0x800705B4 'The guest did not answer.' $vmId)
            }
        }
    }
    $document = [ordered]@{ licenses = @($results.Values) }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
} finally {
    if ($sessions.Count -gt 0) { Remove-PSSession -Session $sessions.ToArray() -ErrorAction SilentlyContinue }
}

$document | ConvertTo-Json -Depth 6 -Compress
