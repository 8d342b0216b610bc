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

#include lib/windows_license.ps1
#include lib/host_license.ps1
#include lib/licensing.ps1

$service = Get-CimInstance -ClassName SoftwareLicensingService
Invoke-Licensing $service 'InstallProductKey' @{ ProductKey = $ProductKey }
Invoke-Licensing $service 'RefreshLicenseStatus'
$product = Get-WindowsLicense
if ($null -eq $product) { throw 'The key was installed but no Windows product carries it (0xC004F015).' }
Invoke-Licensing $product 'Activate'
$hyperV = [bool](Get-Command -Name Get-VM -ErrorAction SilentlyContinue)
[ordered]@{ host = Get-HostDocument $hyperV } | ConvertTo-Json -Depth 6 -Compress
