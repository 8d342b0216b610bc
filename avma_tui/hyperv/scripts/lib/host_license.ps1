# lib/host_license.ps1, shared by inventory and activate_host (with lib/windows_license.ps1): inventory.host.
function Get-HostDocument([bool]$HyperV) {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cs = Get-CimInstance -ClassName Win32_ComputerSystem
    $license = Get-WindowsLicense
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
