<#
  install_key — install a product key in the guest (slmgr /ipk: InstallProductKey + RefreshLicenseStatus).
  Parameters: VmId, ProductKey, Credential.
  Writes one JSON document: {"vm_id", "license": LICENSE}   # LICENSE as in guest_licenses
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors", made where the error happened
  The guest side gets its data through -ArgumentList and param(), never through script text.
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){4}$')][string]$ProductKey,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1

try {
    $answer = Invoke-Command -VMId $VmId -Credential $Credential -ArgumentList $ProductKey -ScriptBlock {
        param([string]$Key)
        $ErrorActionPreference = 'Stop'
        #include lib/errors.ps1
        #include lib/windows_license.ps1
        #include lib/guest_license.ps1
        #include lib/licensing.ps1
        # The record is made here, in the guest: a CimException's ErrorData does not survive the trip back.
        try {
            $service = Get-CimInstance -ClassName SoftwareLicensingService
            Invoke-Licensing $service 'InstallProductKey' @{ ProductKey = $Key }
            Invoke-Licensing $service 'RefreshLicenseStatus'
            $guest = [ordered]@{ license = Get-LicenseDocument }
        } catch {
            $guest = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
        }
        ConvertTo-Json -InputObject $guest -Depth 4 -Compress
    }
    $guest = ConvertFrom-Json -InputObject ([string]$answer)
    if ($null -ne $guest.error) { $document = [ordered]@{ error = $guest.error } }
    else { $document = [ordered]@{ vm_id = $VmId.ToString(); license = $guest.license } }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
