# lib/guest_os.ps1, in the guest code of guest_licenses: the guest's OS as Windows itself reports it, for a
# guest whose KVP items do not say (KVP disabled or not reporting).
function Get-GuestOsDocument {
    # One CIM query of the singleton Win32_OperatingSystem with a -Property list: Caption ("may contain trailing
    # characters"), BuildNumber (a string), OperatingSystemSKU (the PRODUCT_* values of GetProductInfo, as KVP's
    # OSEditionId) and ProductType (1 Work Station, 2 Domain Controller, 3 Server)
    # (https://learn.microsoft.com/windows/win32/cimwin32prov/win32-operatingsystem).
    $os = Get-CimInstance -ClassName Win32_OperatingSystem -Property @('Caption', 'BuildNumber', 'OperatingSystemSKU', 'ProductType')
    [ordered]@{
        caption      = ([string]$os.Caption).Trim()
        build_number = [string]$os.BuildNumber
        sku          = $os.OperatingSystemSKU
        product_type = $os.ProductType
    }
}
