<#
  preflight — what `avma-tui doctor` and `avma-tui capture` need to know about the host and this session.
  Read-only; every part that fails is null, so one missing right never hides the others.
  Parameters: none.
  Writes one JSON document:
    {"ps_version", "ps_edition", "os_build", "culture", "ui_culture", "user", "user_sid", "elevated",
     "local_account", "builtin_administrator", "local_account_token_filter_policy",
     "vmms", "hyperv_module", "winrm": {"max_shells_per_user", "max_envelope_size_kb", "idle_timeout_ms",
     "plugin_max_shells_per_user"}}
  Sources:
  - Remoting access: members of Administrators or Remote Management Users (PowerShell-Docs
    reference/5.1/Microsoft.PowerShell.Core/About/about_Remote_Requirements.md; the endpoint SDDL in
    PowerShell/PowerShell src/System.Management.Automation/engine/remoting/commands/CustomShellCommands.cs
    grants BA, RM and IU only).
  - A local (not domain) administrator other than the built-in one gets a filtered, non-elevated token
    remotely unless LocalAccountTokenFilterPolicy = 1 under HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\
    Policies\System (about_Remote_Troubleshooting.md; https://learn.microsoft.com/windows/win32/wmisdk/
    user-account-control-and-wmi). The built-in Administrator's SID ends in -500.
  - WinRM quotas: WSMan:\localhost\Shell\MaxShellsPerUser (default 30), WSMan:\localhost\MaxEnvelopeSizekb
    (default 500), WSMan:\localhost\Shell\IdleTimeout (MS-WSMV 2.2.4.42 and 2.2.4.10); the PowerShell plug-in's
    own MaxShellsPerUser under WSMan:\localhost\Plugin\microsoft.powershell\Quotas (MS-WSMV 3.1.4.1.34.3.4).
  - The Hyper-V role's management service is vmms; the module is Hyper-V.
#>
param()

$ErrorActionPreference = 'Stop'

function Get-OrNull([scriptblock]$Read) {
    try { & $Read } catch { $null }
}

$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object Security.Principal.WindowsPrincipal($identity)
$userSid = $identity.User
$machineSid = Get-OrNull { (New-Object Security.Principal.NTAccount("$env:COMPUTERNAME\$env:USERNAME")).Translate([Security.Principal.SecurityIdentifier]).AccountDomainSid }
$vmms = Get-OrNull { Get-Service -Name vmms }
$module = Get-OrNull { Get-Module -ListAvailable -Name Hyper-V | Select-Object -First 1 }

[ordered]@{
    ps_version                        = $PSVersionTable.PSVersion.ToString()
    ps_edition                        = [string]$PSVersionTable.PSEdition
    os_build                          = [Environment]::OSVersion.Version.Build
    culture                           = (Get-Culture).Name
    ui_culture                        = (Get-UICulture).Name
    user                              = $identity.Name
    user_sid                          = $userSid.Value
    elevated                          = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
    local_account                     = ($null -ne $machineSid -and $userSid.AccountDomainSid -eq $machineSid)
    builtin_administrator             = $userSid.Value.EndsWith('-500')
    local_account_token_filter_policy = Get-OrNull { (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -Name LocalAccountTokenFilterPolicy).LocalAccountTokenFilterPolicy }
    vmms                              = if ($vmms) { [string]$vmms.Status } else { $null }
    hyperv_module                     = if ($module) { $module.Version.ToString() } else { $null }
    winrm                             = [ordered]@{
        max_shells_per_user        = Get-OrNull { [int](Get-Item -Path 'WSMan:\localhost\Shell\MaxShellsPerUser').Value }
        max_envelope_size_kb       = Get-OrNull { [int](Get-Item -Path 'WSMan:\localhost\MaxEnvelopeSizekb').Value }
        idle_timeout_ms            = Get-OrNull { [int](Get-Item -Path 'WSMan:\localhost\Shell\IdleTimeout').Value }
        plugin_max_shells_per_user = Get-OrNull { [int](Get-Item -Path 'WSMan:\localhost\Plugin\microsoft.powershell\Quotas\MaxShellsPerUser').Value }
    }
} | ConvertTo-Json -Depth 6 -Compress
