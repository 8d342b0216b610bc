<#
  activate_host — install the host's own product key and activate it (slmgr /ipk + /ato on the host).
  Parameters: ProductKey.
  Writes one JSON document:
    {"host": {"name", "domain", "os_name", "build", "sku", "license_status", "partial_product_key",
              "hyperv", "virtual"}}   # as in inventory.host, read after the change
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors"
#>
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$')][string]$ProductKey
)

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1
#include lib/windows_license.ps1
#include lib/host_license.ps1
#include lib/licensing.ps1

try {
    $service = Get-CimInstance -ClassName SoftwareLicensingService
    Invoke-Licensing $service 'InstallProductKey' @{ ProductKey = $ProductKey }
    Invoke-Licensing $service 'RefreshLicenseStatus'
    $product = Get-WindowsLicense -Property @('LicenseStatus')
    if ($null -eq $product) {
        # slmgr.vbs: a product that is not found is HR_SL_E_PKEY_NOT_INSTALLED (0xC004F014).
        throw (New-ToolError 'NoProductKey' 0xC004F014 'The Software Licensing Service reported that the product key is not available.')
    }
    Invoke-Licensing $product 'Activate'
    $document = [ordered]@{ host = Get-HostDocument (Test-HyperV) }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
