<#
  host_info — one host's (a cluster node's) own facts, read on that host over its own connection
  (docs/operations.md). The client connects to each cluster node itself with the same credentials:
  read from the host it first connected to, a node would be a second hop, which has no credentials
  with NTLM or Kerberos without delegation (PowerShell-Docs,
  reference/docs-conceptual/security/remoting/PS-remoting-second-hop.md;
  https://learn.microsoft.com/powershell/scripting/security/remoting/ps-remoting-second-hop).
  Parameters: none.
  Writes one JSON document: {"host": HOST}, HOST as in inventory's "host",
    or {"error": ERROR}   # ERROR: an error record, docs/operations.md "Errors"
#>
param()

$ErrorActionPreference = 'Stop'

#include lib/errors.ps1
#include lib/windows_license.ps1
#include lib/host_license.ps1

try {
    $hyperV = [bool](Get-Service -Name vmms -ErrorAction SilentlyContinue)
    $document = [ordered]@{ host = Get-HostDocument $hyperV }
} catch {
    $document = [ordered]@{ error = ConvertTo-ErrorDocument $_ }
}
$document | ConvertTo-Json -Depth 6 -Compress
