# lib/host_license.ps1, shared by inventory and activate_host (with lib/windows_license.ps1): inventory.host, Test-HyperV.
function Get-HostDocument([bool]$HyperV) {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cs = Get-CimInstance -ClassName Win32_ComputerSystem
    $license = Get-WindowsLicense -Property @('LicenseStatus', 'PartialProductKey')
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
        # PowerShell Direct needs Windows PowerShell 5 on the host as well (PowerShell Direct doc: "the major
        # version must be 5 or later"); the tool decides per VM with core ps_direct_possible().
        ps_version          = $PSVersionTable.PSVersion.ToString()
        virtual             = ([string]$cs.Model -match 'Virtual Machine|VMware|KVM|HVM domU|VirtualBox')
    }
}

function Test-HyperV {
    # The Hyper-V role, not just a Get-VM command: RSAT or VMware PowerCLI bring a Get-VM without the role. The role
    # runs the Virtual Machine Management service, vmms ("Hyper-V Virtual Machine Management", Microsoft's BPA rule
    # The-Hyper-V-Virtual-Machine-Management-service-should-be-configured-to-start), and the Hyper-V module's own
    # Get-VM is called module-qualified (Module Name: Hyper-V in the cmdlet reference; PowerCLI's Get-VM cannot shadow it).
    $service = Get-Service -Name vmms -ErrorAction SilentlyContinue
    $command = Get-Command -Name 'Hyper-V\Get-VM' -ErrorAction SilentlyContinue
    [bool]($null -ne $service -and $null -ne $command)
}
