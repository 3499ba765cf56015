from __future__ import annotations

from pathlib import Path

import pytest

SPECS = Path(__file__).parent / "specs"


@pytest.fixture
def tiny_spec_path() -> Path:
    return SPECS / "tiny.yaml"
