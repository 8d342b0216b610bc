<#
  activate_guest — ask the guest's Windows product to activate (slmgr /ato: Activate + RefreshLicenseStatus).
  Parameters: VmId, Credential.
  Writes one JSON document: {"vm_id", "license": LICENSE}   # LICENSE as in guest_licenses
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors", made where the error happened
  The guest side gets its data through -ArgumentList and param(), never through script text.
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1

try {
    $answer = Invoke-Command -VMId $VmId -Credential $Credential -ScriptBlock {
        $ErrorActionPreference = 'Stop'
        #include lib/errors.ps1
        #include lib/windows_license.ps1
        #include lib/guest_license.ps1
        #include lib/licensing.ps1
        try {
            $product = Get-WindowsLicense
            if ($null -eq $product) {
                # slmgr.vbs: a product that is not found is HR_SL_E_PKEY_NOT_INSTALLED (0xC004F014).
                throw (New-ToolError 'NoProductKey' 0xC004F014 'The Software Licensing Service reported that the product key is not available.')
            }
            Invoke-Licensing $product 'Activate'
            Invoke-Licensing (Get-CimInstance -ClassName SoftwareLicensingService) 'RefreshLicenseStatus'
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
