<#
  activate_guest — ask the guest's Windows product to activate (slmgr /ato); AVMA completes asynchronously.
  Parameters: VmId, Credential.
  Writes one JSON document: {"vm_id", "license": LICENSE}   # LICENSE as in guest_licenses
  The guest side gets its data through -ArgumentList and param(), never through script text.
#>
param(
    [Parameter(Mandatory = $true)][guid]$VmId,
    [Parameter(Mandatory = $true)][pscredential]$Credential
)

$ErrorActionPreference = 'Stop'

$license = Invoke-Command -VMId $VmId -Credential $Credential -ScriptBlock {
    $ErrorActionPreference = 'Stop'
    #include lib/windows_license.ps1
    #include lib/guest_license.ps1
    #include lib/licensing.ps1
    $product = Get-WindowsLicense
    if ($null -eq $product) { throw 'No Windows product key is installed (0xC004F015).' }
    Invoke-Licensing $product 'Activate'
    Invoke-Licensing (Get-CimInstance -ClassName SoftwareLicensingService) 'RefreshLicenseStatus'
    ConvertTo-Json -InputObject (Get-LicenseDocument) -Depth 3 -Compress
}
[ordered]@{ vm_id = $VmId.ToString(); license = ConvertFrom-Json -InputObject ([string]$license) } |
    ConvertTo-Json -Depth 6 -Compress
