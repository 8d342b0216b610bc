"""Kerberos on the client: who "you" are without a password, and Kerberos failures in plain words.

With `--auth negotiate|kerberos` and no `--user`, pypsrp (through pyspnego) uses the current logon: the
ticket cache on Linux and macOS (kinit), the Windows logon through SSPI. The codes below are MIT
Kerberos' own (src/lib/krb5/error_tables/krb5_err.et in the krb5 source: each code is
ERROR_TABLE_BASE_krb5 = -1765328384 plus its index), as the `krb5` and `gssapi` libraries report them;
GSSAPI carries them as the unsigned "Minor" code. SSPI on Windows reports other codes, which fall back
to the generic message of the caller.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys

_BASE = -1765328384
C_PRINCIPAL_UNKNOWN = _BASE + 6  # KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: "Client not found in Kerberos database"
S_PRINCIPAL_UNKNOWN = _BASE + 7  # KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: "Server not found in Kerberos database"
PREAUTH_FAILED = _BASE + 24  # KRB5KDC_ERR_PREAUTH_FAILED: "Preauthentication failed"
BAD_INTEGRITY = _BASE + 31  # KRB5KRB_AP_ERR_BAD_INTEGRITY: "Decrypt integrity check failed" (wrong password)
TKT_EXPIRED = _BASE + 32  # KRB5KRB_AP_ERR_TKT_EXPIRED: "Ticket expired"
SKEW = _BASE + 37  # KRB5KRB_AP_ERR_SKEW: "Clock skew too great"
REALM_UNKNOWN = _BASE + 154  # KRB5_REALM_UNKNOWN: "Cannot find KDC for realm"
KDC_UNREACH = _BASE + 156  # KRB5_KDC_UNREACH: "Cannot contact any KDC for requested realm"
#: GSS_S_NO_CRED (RFC 2744 §3.9.1: routine error 7, in the major status' bits 16-23): no ticket to use.
GSS_NO_CRED = 7 << 16

_NUMBER = re.compile(r"-?\d{6,}")
_MAJOR = re.compile(r"Major \((\d+)\)")


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def current_principal() -> str | None:
    """The account the current logon authenticates as, or None when there is none (no ticket).

    Linux/macOS: the default principal of the ticket cache (as `klist` shows it). Windows: the logon
    session's DOMAIN\\user, which SSPI uses.
    """
    if sys.platform == "win32":
        user, domain = os.environ.get("USERNAME"), os.environ.get("USERDOMAIN")
        return f"{domain}\\{user}" if user and domain else user
    try:
        import gssapi  # an optional dependency: pip install 'avma-tui[kerberos]'
    except ImportError:
        return None
    try:
        credential = gssapi.Credentials(usage="initiate")
        if credential.lifetime == 0:
            return None
        return str(credential.name)
    except Exception:  # no cache, an expired ticket, no default realm: there is no "you" to use
        return None


def _codes(err: BaseException) -> set[int]:
    """Every Kerberos code mentioned by an error or its causes, as a signed 32-bit number."""
    codes: set[int] = set()
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for text in (str(current), repr(current)):
            for number in _NUMBER.findall(text):
                value = int(number)
                codes.add(value - (1 << 32) if value >= 1 << 31 else value)
            codes.update(int(major) & 0x00FF0000 for major in _MAJOR.findall(text))
        current = current.__cause__ or current.__context__
    return codes


def kerberos_problem(err: BaseException, *, host: str, user: str) -> str | None:
    """One line saying what went wrong with Kerberos and what to do, or None when it is not Kerberos'."""
    codes = _codes(err)
    who = user or "your account"
    if S_PRINCIPAL_UNKNOWN in codes:
        if is_ip_address(host):
            return (
                f"Kerberos needs the host's name, not an IP address ({host}): connect to the name registered "
                "in the domain (e.g. hv01.corp.example), or use --auth ntlm with --user"
            )
        return (
            f"the domain has no service principal HTTP/{host}: use the host's full name as registered in "
            f"the domain (setspn -Q HTTP/{host} on a domain member shows it), or --auth ntlm"
        )
    if C_PRINCIPAL_UNKNOWN in codes:
        return f"the Kerberos realm does not know {who}: check the user name (user@REALM, realm in capitals)"
    if REALM_UNKNOWN in codes or KDC_UNREACH in codes:
        realm = user.partition("@")[2] or "the default realm"
        return (
            f"no Kerberos KDC answers for {realm}: check the realm in --user (user@CORP.EXAMPLE, in capitals) "
            "and that this machine can reach a domain controller (krb5.conf, DNS)"
        )
    if PREAUTH_FAILED in codes or BAD_INTEGRITY in codes:
        return f"Kerberos rejected the password of {who}: check it (and Caps Lock), or run kinit again"
    if SKEW in codes:
        return (
            "the clocks of this machine and the domain differ by more than 5 minutes, so Kerberos refuses "
            "the ticket: synchronise the time (NTP) and try again"
        )
    if TKT_EXPIRED in codes:
        return "your Kerberos ticket has expired: run kinit again (klist shows its lifetime)"
    if GSS_NO_CRED in codes:
        return (
            "no Kerberos ticket to log in with: run kinit user@REALM first, or give --user (the password "
            "from AVMA_PASSWORD or a prompt)"
        )
    return None
