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
    #include lib/windows_license.ps1
    #include lib/guest_license.ps1
    #include lib/licensing.ps1
    $service = Get-CimInstance -ClassName SoftwareLicensingService
    Invoke-Licensing $service 'InstallProductKey' @{ ProductKey = $Key }
    Invoke-Licensing $service 'RefreshLicenseStatus'
    ConvertTo-Json -InputObject (Get-LicenseDocument) -Depth 3 -Compress
}
[ordered]@{ vm_id = $VmId.ToString(); license = ConvertFrom-Json -InputObject ([string]$license) } |
    ConvertTo-Json -Depth 6 -Compress
