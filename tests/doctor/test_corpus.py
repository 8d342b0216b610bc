"""The capture corpus (tests/fixtures/captures): every capture there runs through parsing, diagnosis and
`report`, and must report exactly what is stored beside it.

A capture a real host's admin sends in becomes a regression case by dropping it in that folder and running
`python tests/fixtures/captures/regenerate.py --reports`; review the new *.report.json before committing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.captures.regenerate import captures, expected_report, report_path

CORPUS = captures()


def test_the_corpus_holds_a_handwritten_capture_and_one_per_packaged_scenario() -> None:
    names = {path.name for path in CORPUS}
    assert "hv2022-handwritten.json" in names
    scenarios = Path(__file__).resolve().parents[2] / "assets" / "scenarios"
    assert {f"{p.stem}.avmacap" for p in scenarios.glob("*.toml")} <= names


@pytest.mark.parametrize("capture", CORPUS, ids=[path.name for path in CORPUS])
def test_a_capture_reports_what_is_stored_beside_it(capture: Path) -> None:
    import json

    stored = json.loads(report_path(capture).read_text(encoding="utf-8"))
    assert expected_report(capture) == stored, (
        f"the report of {capture.name} changed; if that is intended, run "
        "`python tests/fixtures/captures/regenerate.py --reports` and review the diff"
    )
