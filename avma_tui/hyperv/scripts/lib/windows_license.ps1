# lib/windows_license.ps1, shared by inventory, activate_host and the guest code of guest_licenses,
# install_key and activate_guest.
function Get-WindowsLicense([string]$ComputerName) {
    # The Windows product that has a key installed, here or (with a name) on another computer; $null when none is.
    $query = @{
        ClassName = 'SoftwareLicensingProduct'
        Filter    = "ApplicationID='55c92734-d682-4d71-983e-d6ec3f16059f' AND PartialProductKey IS NOT NULL"
    }
    if ($ComputerName) { $query.ComputerName = $ComputerName; $query.OperationTimeoutSec = 15 }
    Get-CimInstance @query | Select-Object -First 1
}
