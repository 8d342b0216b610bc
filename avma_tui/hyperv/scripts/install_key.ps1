<#
  install_key — install a product key in the guest (slmgr /ipk: InstallProductKey + RefreshLicenseStatus).
  Parameters: VmId, ProductKey, Credential.
  Writes one JSON document: {"vm_id", "license": LICENSE}   # LICENSE as in guest_licenses
  The guest side gets its data through -ArgumentList and param(), never through script text.
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$')][string]$ProductKey,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

$license = Invoke-Command -VMId $VmId -Credential $Credential -ArgumentList $ProductKey -ScriptBlock {
    param([string]$Key)
    $ErrorActionPreference = 'Stop'
    function Get-LicenseDocument {
        # The Windows product that has a key installed; $null when none is.
        $product = Get-CimInstance -ClassName SoftwareLicensingProduct `
            -Filter "ApplicationID='55c92734-d682-4d71-983e-d6ec3f16059f' AND PartialProductKey IS NOT NULL" |
            Select-Object -First 1
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
    $service = Get-CimInstance -ClassName SoftwareLicensingService
    Invoke-Licensing $service 'InstallProductKey' @{ ProductKey = $Key }
    Invoke-Licensing $service 'RefreshLicenseStatus'
    ConvertTo-Json -InputObject (Get-LicenseDocument) -Depth 3 -Compress
}
[ordered]@{ vm_id = $VmId.ToString(); license = ConvertFrom-Json -InputObject ([string]$license) } |
    ConvertTo-Json -Depth 6 -Compress
