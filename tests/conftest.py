from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Tests never assert wall-clock time: hypothesis's per-example deadline would fail on a busy machine.
settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"../shared/data is missing beside the repository (looked in {SHARED_DATA})")
    return SHARED_DATA
