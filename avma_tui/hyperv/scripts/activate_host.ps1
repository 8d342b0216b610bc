<#
  activate_host — install the host's own product key and activate it (slmgr /ipk + /ato on the host).
  Parameters: ProductKey.
  Writes one JSON document:
    {"host": {"name", "domain", "os_name", "build", "sku", "license_status", "partial_product_key",
              "hyperv", "virtual"}}   # as in inventory.host, read after the change
#>
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$')][string]$ProductKey
)

$ErrorActionPreference = 'Stop'

function Get-WindowsLicense {
    Get-CimInstance -ClassName SoftwareLicensingProduct `
        -Filter "ApplicationID='55c92734-d682-4d71-983e-d6ec3f16059f' AND PartialProductKey IS NOT NULL" |
        Select-Object -First 1
}

function Invoke-Licensing($Target, [string]$Method, [hashtable]$Arguments = @{}) {
    # SPP reports failures as HRESULTs (0xC004F050, …); keep the code in the message the facade classifies.
    try {
        Invoke-CimMethod -InputObject $Target -MethodName $Method -Arguments $Arguments | Out-Null
    } catch {
        $code = $_.Exception.HResult
        if ($null -ne $_.Exception.InnerException) { $code = $_.Exception.InnerException.HResult }
        throw ('{0} (0x{1:X8})' -f $_.Exception.Message, $code)
    }
}

function Get-HostDocument {
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
        hyperv              = [bool](Get-Command -Name Get-VM -ErrorAction SilentlyContinue)
        virtual             = ([string]$cs.Model -match 'Virtual Machine|VMware|KVM|HVM domU|VirtualBox')
    }
}

$service = Get-CimInstance -ClassName SoftwareLicensingService
Invoke-Licensing $service 'InstallProductKey' @{ ProductKey = $ProductKey }
Invoke-Licensing $service 'RefreshLicenseStatus'
$product = Get-WindowsLicense
if ($null -eq $product) { throw 'The key was installed but no Windows product carries it (0xC004F015).' }
Invoke-Licensing $product 'Activate'
[ordered]@{ host = Get-HostDocument } | ConvertTo-Json -Depth 6 -Compress
