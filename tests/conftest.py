"""Fixtures shared by every test layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_audio.generate import DEFAULT_OUT, generate


@pytest.fixture(scope="session")
def generated_corpus() -> Path:
    """The project's synthetic wav+txt corpus (generated on first use, reused after)."""
    generate(DEFAULT_OUT)
    return DEFAULT_OUT
