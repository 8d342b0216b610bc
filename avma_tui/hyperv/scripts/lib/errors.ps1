# lib/errors.ps1, shared by every operation and by the guest code: each error as a record (docs/operations.md, "Errors").
function ConvertTo-UInt32([int64]$Value) {
    # An HRESULT as an unsigned 32-bit number: Exception.HResult is a signed Int32.
    # The low four bytes of the little-endian Int64, unchecked: -2147024891 -> 2147942405 (0x80070005).
    [BitConverter]::ToUInt32([BitConverter]::GetBytes($Value), 0)
}

function Get-ErrorTarget($Target) {
    # A failed PowerShell Direct session's TargetObject is its RemoteRunspace: ConnectionInfo.VMGuid names the VM
    # (PowerShell/PowerShell RunspaceConnectionInfo.cs VMConnectionInfo); a PSSession carries VMId.
    if ($null -eq $Target) { return $null }
    if ($Target.PSObject.Properties['ConnectionInfo'] -and $Target.ConnectionInfo.PSObject.Properties['VMGuid']) {
        return $Target.ConnectionInfo.VMGuid.ToString()
    }
    if ($Target.PSObject.Properties['VMId'] -and $Target.VMId -is [guid]) { return $Target.VMId.ToString() }
    $text = [string]$Target
    if ($text.Length -gt 256) { $text = $text.Substring(0, 256) }
    $text
}

function ConvertTo-ErrorDocument($Record) {
    # {fqeid, category, exception, hresult, target, message}: classification reads fqeid, exception and hresult;
    # the message is shown as Windows wrote it, in the host's language.
    $exception = $Record.Exception
    $message = $null
    # New-PSSession shows a PSDirectException from the inner exceptions instead of its generic wrapper
    # (newrunspacecommand.cs HandleRunspaceStateChanged); do the same wherever it arrives wrapped.
    $inner = $exception
    while ($null -ne $inner) {
        if ($inner.GetType().Name -eq 'PSDirectException') { $exception = $inner; $message = $inner.Message; break }
        $inner = $inner.InnerException
    }
    $code = $null
    # A CimException carries the provider's HRESULT in ErrorData (MSFT_WmiError.error_Code, uint32); its own
    # HResult is the .NET default (PowerShell/MMI CimException.cs never sets it).
    if ($null -ne $exception -and $exception.PSObject.Properties['ErrorData'] -and $null -ne $exception.ErrorData) {
        $property = $exception.ErrorData.CimInstanceProperties['error_Code']
        if ($null -ne $property -and $null -ne $property.Value) { $code = [uint32]$property.Value }
    }
    if ($null -eq $code -and [string]$Record.FullyQualifiedErrorId -match '^HRESULT 0x([0-9A-Fa-f]{8})') {
        $code = [Convert]::ToUInt32($Matches[1], 16)
    }
    if ($null -eq $code -and $null -ne $exception) { $code = ConvertTo-UInt32 $exception.HResult }
    if ($null -eq $message) {
        $message = if ($Record.ErrorDetails -and $Record.ErrorDetails.Message) { $Record.ErrorDetails.Message }
                   elseif ($null -ne $exception) { $exception.Message } else { [string]$Record }
    }
    [ordered]@{
        fqeid     = [string]$Record.FullyQualifiedErrorId
        category  = [string]$Record.CategoryInfo.Category
        exception = if ($null -ne $exception) { $exception.GetType().FullName } else { $null }
        hresult   = $code
        target    = Get-ErrorTarget $Record.TargetObject
        message   = [string]$message
    }
}

function New-ToolError([string]$Id, [int64]$HResult, [string]$Message, $Target = $null) {
    # An error the script raises itself: an ErrorRecord with its own ErrorId and a COMException carrying the HRESULT.
    $signed = [BitConverter]::ToInt32([BitConverter]::GetBytes($HResult), 0)   # 0xC004F014 as the Int32 .NET wants
    $exception = New-Object System.Runtime.InteropServices.COMException -ArgumentList $Message, $signed
    New-Object System.Management.Automation.ErrorRecord -ArgumentList $exception, $Id, 'NotSpecified', $Target
}
