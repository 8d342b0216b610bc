# lib/licensing.ps1, shared by activate_host and the guest code of install_key and activate_guest.
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
