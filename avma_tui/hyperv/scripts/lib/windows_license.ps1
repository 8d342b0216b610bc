# lib/windows_license.ps1, shared by inventory, host_info, activate_host and the guest code of guest_licenses,
# install_key and activate_guest.
function Get-WindowsLicense([string[]]$Property = @(
        'Name', 'Description', 'LicenseStatus', 'LicenseStatusReason', 'GracePeriodRemaining',
        'PartialProductKey', 'ProductKeyChannel', 'AutomaticVMActivationHostMachineName',
        'AutomaticVMActivationLastActivationTime')) {
    # The one Windows product that has a key installed; $null when none is. The filter is slmgr.vbs's own query
    # for it (TkaGetProduct: ApplicationId = Windows' AND PartialProductKey <> NULL AND LicenseIsAddon = FALSE):
    # an add-on such as an Extended Security Updates license shares Windows' ApplicationID and has a key of its
    # own (slmgr.vbs GetIsPrimaryWindowsSKU). The default properties are the guest's LICENSE document
    # (lib/guest_license.ps1); a host asks for fewer. Only the named properties are computed and sent
    # (https://learn.microsoft.com/powershell/module/cimcmdlets/get-ciminstance, -Property); ID, the class's
    # key, is always asked for, so the Activate method can be called on the partial instance.
    $query = @{
        ClassName = 'SoftwareLicensingProduct'
        Filter    = "ApplicationID='55c92734-d682-4d71-983e-d6ec3f16059f' AND PartialProductKey IS NOT NULL AND LicenseIsAddon = FALSE"
        Property  = @('ID') + $Property
    }
    Get-CimInstance @query | Select-Object -First 1
}
