# lib/guest_license.ps1, shared by the guest code of guest_licenses, install_key and activate_guest
# (with lib/windows_license.ps1): the LICENSE document.
function Get-LicenseDocument {
    $product = Get-WindowsLicense
    if ($null -eq $product) { return $null }
    $avmaHost = [string]$product.AutomaticVMActivationHostMachineName
    $last = $product.AutomaticVMActivationLastActivationTime
    $lastText = $null
    if ($last -is [datetime] -and $last.Year -gt 1601) {
        $lastText = $last.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [Globalization.CultureInfo]::InvariantCulture)
    }
    [ordered]@{
        name                  = [string]$product.Name
        description           = [string]$product.Description
        license_status        = [int]$product.LicenseStatus
        license_status_reason = [int64]$product.LicenseStatusReason
        grace_minutes         = [int64]$product.GracePeriodRemaining
        partial_product_key   = [string]$product.PartialProductKey
        product_key_channel   = [string]$product.ProductKeyChannel
        avma_host             = if ($avmaHost) { $avmaHost } else { $null }
        avma_last_activation  = $lastText
    }
}
