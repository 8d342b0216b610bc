<#
  guest_licenses — the Windows license of many guests in one round trip, over PowerShell Direct.
  Parameters: VmIds (Id strings), Credential (the guest account).
  Writes one JSON document:
    {"licenses": [{"vm_id", "license": LICENSE | null, "error": null | "message"}]}
  LICENSE: {"name", "description", "license_status", "license_status_reason", "grace_minutes",
            "partial_product_key", "product_key_channel", "avma_host", "avma_last_activation"}
  A guest that cannot be reached gets its own error; the others are still read.
#>
param(
    [Parameter(Mandatory = $true)][guid[]]$VmIds,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

$guestScript = {
    $ErrorActionPreference = 'Stop'
    #include lib/windows_license.ps1
    #include lib/guest_license.ps1
    # A JSON string survives the trip back intact (nested dictionaries would be deserialized loosely).
    ConvertTo-Json -InputObject (Get-LicenseDocument) -Depth 3 -Compress
}

$results = [ordered]@{}
foreach ($id in $VmIds) { $results[$id.ToString()] = [ordered]@{ vm_id = $id.ToString(); license = $null; error = $null } }

# One session per VM, opened together, so each answer and each error maps back to its VM by Id.
$openErrors = $null
$sessions = @(New-PSSession -VMId $VmIds -Credential $Credential -ErrorAction SilentlyContinue -ErrorVariable openErrors)
try {
    $bySession = @{}
    foreach ($session in $sessions) { $bySession[$session.InstanceId.ToString()] = $session.VMId.ToString() }
    $answered = @{}
    foreach ($session in $sessions) { $answered[$session.VMId.ToString()] = $false }

    foreach ($record in @($openErrors)) {
        $vmId = $null
        if ($record.PSObject.Properties['OriginInfo'] -and $record.OriginInfo.VMId) { $vmId = $record.OriginInfo.VMId.ToString() }
        if ($null -eq $vmId -and $record.TargetObject -is [guid]) { $vmId = $record.TargetObject.ToString() }
        if ($null -ne $vmId -and $results.Contains($vmId)) { $results[$vmId].error = $record.Exception.Message }
    }
    # Any VM still without a session and without its own error gets the first open error.
    foreach ($entry in $results.Values) {
        if (-not $answered.ContainsKey($entry.vm_id) -and $null -eq $entry.error) {
            $first = @($openErrors) | Select-Object -First 1
            $entry.error = if ($first) { $first.Exception.Message } else { 'PowerShell Direct could not open a session.' }
        }
    }

    if ($sessions.Count -gt 0) {
        $runErrors = $null
        $answers = @(Invoke-Command -Session $sessions -ScriptBlock $guestScript -ThrottleLimit 16 `
            -ErrorAction SilentlyContinue -ErrorVariable runErrors)
        foreach ($answer in $answers) {
            $vmId = $bySession[[string]$answer.RunspaceId]
            if ($null -eq $vmId) { continue }
            $results[$vmId].license = ConvertFrom-Json -InputObject ([string]$answer)
            $answered[$vmId] = $true
        }
        foreach ($record in @($runErrors)) {
            $vmId = $null
            if ($record.PSObject.Properties['OriginInfo'] -and $record.OriginInfo) {
                $vmId = $bySession[$record.OriginInfo.RunspaceID.ToString()]
            }
            if ($null -ne $vmId -and -not $answered[$vmId]) { $results[$vmId].error = $record.Exception.Message }
        }
        foreach ($vmId in @($answered.Keys)) {
            if (-not $answered[$vmId] -and $null -eq $results[$vmId].error) { $results[$vmId].error = 'The guest did not answer.' }
        }
    }
} finally {
    if ($sessions.Count -gt 0) { $sessions | Remove-PSSession -ErrorAction SilentlyContinue }
}

[ordered]@{ licenses = @($results.Values) } | ConvertTo-Json -Depth 6 -Compress
