# lib/licensing.ps1, shared by activate_host and the guest code of install_key and activate_guest (with lib/errors.ps1).
function Invoke-Licensing($Target, [string]$Method, [hashtable]$Arguments = @{}) {
    # SPP methods fail by raising the HRESULT (slmgr.vbs calls them and then QuitIfError, which reads Err.Number):
    # Invoke-CimMethod throws a CimException whose ErrorData.error_Code is that HRESULT, reported by lib/errors.ps1.
    # A non-zero ReturnValue is a failure too (UNCONFIRMED whether SPP ever returns one instead of raising).
    $result = Invoke-CimMethod -InputObject $Target -MethodName $Method -Arguments $Arguments
    if ($null -ne $result -and $result.PSObject.Properties['ReturnValue'] -and [int64]$result.ReturnValue -ne 0) {
        $code = [int64]$result.ReturnValue
        throw (New-ToolError 'LicensingReturnValue' $code ('{0} returned 0x{1:X8}.' -f $Method, $code) $Method)
    }
}
