"""Shared test fixtures: a seeded generator and the location of the real data (absent on some machines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# ../shared/data from the repository root; tests that need it are marked ``realdata`` and skip without it.
SHARED_DATA = Path(__file__).parents[1].parent / "shared" / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240515)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA
