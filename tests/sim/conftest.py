"""Fixtures for the simulated-host tests (helpers live in tests/sim/simkit.py)."""

from __future__ import annotations

import pytest

from tests.sim.simkit import HOST_2022_DC, FakeClock, Sim, make_sim


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="make_sim")
def make_sim_fixture(clock: FakeClock):
    """make_sim(extra_toml, header=HOST_2022_DC) → a Sim on the fake clock."""

    def make(extra: str, header: str = HOST_2022_DC) -> Sim:
        return make_sim(extra, clock, header)

    return make
