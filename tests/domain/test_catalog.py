"""The catalog: structure of the key data and the lookups the diagnosis relies on."""

from __future__ import annotations

import re

import pytest

from avma_tui.core.catalog import (
    FAMILIES,
    GRACE_STATES,
    LICENSE_STATUS,
    PS_DIRECT_MIN_BUILD,
    Catalog,
    CatalogError,
    Edition,
    channel_name,
    license_status_name,
    license_status_words,
    load_catalog,
    ps_direct_too_old,
)

KEY_SHAPE = re.compile(r"[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}")

# Reference §1.4, "Last-5 characters": family → edition → PartialProductKey.
LAST5 = {
    "2025": {"Datacenter": "VCH67", "Standard": "9HPQ4", "Datacenter: Azure Edition": "88J4F"},
    "2022": {"Datacenter": "DV9BG", "Datacenter: Azure Edition": "VMK3J", "Standard": "78VHK"},
    "2019": {"Datacenter": "WMBMW", "Standard": "4GF74", "Essentials": "HFV28"},
    "2016": {"Datacenter": "CWG3J", "Standard": "4RHYD", "Essentials": "MHBKQ"},
    "2012 R2": {"Datacenter": "DV4TW", "Standard": "MTB6V", "Essentials": "P36R2"},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_families_are_oldest_to_newest() -> None:
    assert FAMILIES == ("2012 R2", "2016", "2019", "2022", "2025")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("edition", ["Standard", "Datacenter"])
def test_every_family_has_standard_and_datacenter_keys(catalog: Catalog, family: str, edition: str) -> None:
    key = catalog.avma_key(family, edition)
    assert key is not None and key.family == family and key.edition == edition


def test_keys_have_the_product_key_shape(catalog: Catalog) -> None:
    for key in (*catalog.avma_keys, *catalog.kms_keys):
        assert KEY_SHAPE.fullmatch(key.key), key


def test_last5_of_main_keys_equal_the_reference_list(catalog: Catalog) -> None:
    for family, editions in LAST5.items():
        for edition, last5 in editions.items():
            key = catalog.avma_key(family, edition)
            assert key is not None and key.last5 == last5, (family, edition)
    listed = {(k.family, k.edition) for k in catalog.avma_keys}
    assert listed == {(f, e) for f, eds in LAST5.items() for e in eds}


def test_sac_releases_share_their_familys_keys(catalog: Catalog) -> None:
    sac = [k for k in catalog.avma_keys if k.versions != f"Windows Server {k.family}"]
    assert {k.versions for k in sac} == {"Windows Server 1909, 1903, 1809", "Windows Server 1803, 1709"}
    for key in sac:
        main = catalog.avma_key(key.family, key.edition)
        assert main is not None and main.key == key.key and main.versions == f"Windows Server {key.family}"


def test_only_2025_is_unconfirmed_and_every_key_has_a_source(catalog: Catalog) -> None:
    assert {k.family for k in catalog.avma_keys if not k.confirmed} == {"2025"}
    assert all(k.source for k in (*catalog.avma_keys, *catalog.kms_keys))


def test_no_avma_key_is_a_kms_key(catalog: Catalog) -> None:
    avma = {k.key for k in catalog.avma_keys}
    kms = {k.key for k in catalog.kms_keys}
    assert not avma & kms
    assert not {k.last5 for k in catalog.avma_keys} & {k.last5 for k in catalog.kms_keys}


def test_essentials_keys_exist_only_up_to_2019(catalog: Catalog) -> None:
    assert catalog.avma_key("2019", "Essentials") is not None
    assert catalog.avma_key("2022", "Essentials") is None
    assert catalog.avma_key("2025", "Essentials") is None
    assert catalog.avma_key(None, "Standard") is None


def test_lookup_by_last5(catalog: Catalog) -> None:
    key = catalog.avma_key_by_last5("cwg3j")
    assert key is not None and key.versions == "Windows Server 2016"
    kms = catalog.kms_key_by_last5("J464C")
    assert kms is not None and (kms.version, kms.edition) == ("2019", "Standard")
    assert catalog.avma_key_by_last5("J464C") is None
    assert catalog.kms_key_by_last5("4GF74") is None


@pytest.mark.parametrize(
    ("build", "family"),
    [
        (9600, "2012 R2"),
        (14393, "2016"),
        (16299, "2016"),
        (17134, "2016"),
        (17763, "2019"),
        (18362, "2019"),
        (18363, "2019"),
        (19041, None),
        (19042, None),
        (20348, "2022"),
        (26100, "2025"),
        (9200, None),
        (7601, None),
        (12345, None),
        (None, None),
    ],
)
def test_family_of_build(catalog: Catalog, build: int | None, family: str | None) -> None:
    assert catalog.family_of(build) == family


def test_build_info_tells_too_old_and_client_builds(catalog: Catalog) -> None:
    info = catalog.build_info(9200)
    assert info is not None and info.name == "Windows Server 2012" and info.family is None and info.server
    client = catalog.build_info(22000)
    assert client is not None and not client.server
    assert catalog.build_info(None) is None and catalog.build_info(1) is None


def test_matrix_host_at_least_guest(catalog: Catalog) -> None:
    rows = catalog.matrix()
    assert {row[0] for row in rows} == set(FAMILIES)
    for host, guests, inferred in rows:
        assert set(guests) == {f for f in FAMILIES if catalog.family_rank(f) <= catalog.family_rank(host)}
        assert inferred == (host == "2025")
    assert catalog.host_can_activate("2022", "2012 R2")
    assert not catalog.host_can_activate("2019", "2022")
    assert not catalog.host_can_activate(None, "2016")
    assert not catalog.host_can_activate("2022", None)


def test_family_rank_rejects_unknown(catalog: Catalog) -> None:
    assert catalog.family_rank("2012 R2") == 0 and catalog.family_rank("2025") == 4
    with pytest.raises(ValueError, match="unknown version family"):
        catalog.family_rank("2012")


@pytest.mark.parametrize(
    ("sku", "name", "expected"),
    [
        (7, "", Edition("Standard", False)),
        (8, "Windows Server 2022 Datacenter", Edition("Datacenter", False)),
        (79, "", Edition("Standard", True)),
        (80, "", Edition("Datacenter", True)),
        (42, "", Edition("Hyper-V Server", False)),
        (50, "", Edition("Essentials", False)),
        (407, "", Edition("Datacenter: Azure Edition", False)),
        (None, "Windows Server 2022 Datacenter: Azure Edition", Edition("Datacenter: Azure Edition", False)),
        (None, "Windows Server 2019 Essentials", Edition("Essentials", False)),
        (None, "Windows Server 2019 Standard Evaluation", Edition("Standard", True)),
        (9999, "Windows Server 2016 Datacenter", Edition("Datacenter", False)),
        (None, "Microsoft Hyper-V Server 2019", Edition("Hyper-V Server", False)),
        (None, "[red]x", Edition("", False)),
        (None, "", Edition("", False)),
    ],
)
def test_edition(catalog: Catalog, sku: int | None, name: str, expected: Edition) -> None:
    assert catalog.edition(sku, name) == expected


def test_edition_label() -> None:
    assert Edition("Standard", True).label == "Standard Evaluation"
    assert Edition("Datacenter", False).label == "Datacenter"
    assert Edition("", False).label == ""


def test_errors_decode_every_avma_code(catalog: Catalog) -> None:
    for code in range(0xC004FD00, 0xC004FD05):
        error = catalog.error(code)
        assert error is not None and error.symbol.startswith("SL_E_IA_") and error.text and error.meaning
    for code in (0xC004F069, 0xC004F050, 0xC004F015, 0xC004F025, 0xC004F06B, 0xC004F014, 0xC004F074):
        assert catalog.error(code) is not None, hex(code)
    fd02 = catalog.error(0xC004FD02)
    assert fd02 is not None and fd02.hex == "0xC004FD02"
    assert fd02.text == "Windows isn't activated on the host machine. Please contact your system administrator."
    assert catalog.error(0xC004FD02 - (1 << 32)) == fd02  # WMI's signed form
    assert catalog.error(0) is None and catalog.error(None) is None


def test_notifications(catalog: Catalog) -> None:
    assert catalog.notification("AVMA Success") == "The VM was activated."
    assert catalog.notification(" activation denied ") is not None
    assert catalog.notification("Something else") is None
    assert catalog.is_failure("Invalid Host") and catalog.is_failure("Invalid Data")
    assert not catalog.is_failure("AVMA Success") and not catalog.is_failure("raw text")


def test_catalog_is_loaded_once() -> None:
    assert load_catalog() is load_catalog()


def test_malformed_catalog_is_reported(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="malformed"):
        Catalog({"families": list(FAMILIES)})


# --- licensing words: one place for channel names, license states, grace states, PowerShell Direct ---------


@pytest.mark.parametrize(
    ("token", "name"),
    [
        ("VIRTUAL_MACHINE_ACTIVATION", "AVMA"),
        ("VOLUME_KMSCLIENT", "KMS client"),
        ("VOLUME_MAK", "MAK"),
        ("RETAIL", "retail"),
        ("OEM_DM", "OEM"),
        ("OEM_SLP", "OEM"),
        ("TIMEBASED_EVAL", "Evaluation"),
        ("SOMETHING_NEW", ""),
        ("", ""),
    ],
)
def test_channel_names(token: str, name: str) -> None:
    assert channel_name(token) == name


def test_license_status_names_and_grace_states() -> None:
    assert [license_status_name(s) for s in (0, 1, 2, 5)] == ["Unlicensed", "Licensed", "OOB grace", "Notification"]
    assert license_status_name(9) == "status 9" and license_status_name(None) == "not reported"
    assert license_status_words(3) == "in the out-of-tolerance grace period (OOTGrace)"
    assert license_status_words(9) == "in an unknown state (9)"
    assert GRACE_STATES == {2, 3, 4, 6} <= set(LICENSE_STATUS)


def test_ps_direct_reach_is_one_decision() -> None:
    assert ps_direct_too_old(9600, "2012 R2") and ps_direct_too_old(None, "2012 R2") and ps_direct_too_old(10240, None)
    assert not ps_direct_too_old(PS_DIRECT_MIN_BUILD, "2016") and not ps_direct_too_old(None, None)
