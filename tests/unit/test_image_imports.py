"""The import guard, without an engine: every command a container runs (the Dockerfile's ENTRYPOINT, CMD and
HEALTHCHECK, Compose's commands and health checks, every rendered k8s container's command, probes and
preStop hook) imports only third-party modules that its image's pip lines install, with the dependencies
they resolved to in the checked-in lock (stack/image-lock.json, `python -m stack.images lock`)."""

from __future__ import annotations

import os
import urllib.request
from dataclasses import replace

import pytest

from stack import images
from stack.images import ROOT, Entry, check_image, entries, read_lock, third_party_imports


def test_every_image_installs_what_its_commands_import():
    problems = images.check({name: ROOT / name for name in images.IMAGES}, ROOT / images.LOCK)
    assert problems == [], "\n".join(problems)


def test_the_guard_names_a_module_the_pip_lines_leave_out():
    """The lock of whisperlive/Dockerfile without orjson (as before the fix): the healthcheck's import
    chain is named, so a broken image is caught before any build."""
    name = "whisperlive/Dockerfile"
    lock = read_lock()[name]
    without = replace(lock, modules={m: d for m, d in lock.modules.items() if d != "orjson"})
    problems = check_image(name, (ROOT / name).read_text(), without, [])
    assert problems and all("imports orjson" in p for p in problems)
    assert any(
        "HEALTHCHECK" in p and "(loadgen.core.protocol <- whisperlive.cli <- whisperlive.__main__)" in p
        for p in problems
    )


def test_the_guard_finds_a_stale_lock():
    name = "whisperlive/Dockerfile.cpu"
    text = (ROOT / name).read_text().replace("orjson==", "orjson>=")
    problems = check_image(name, text, read_lock()[name], [])
    assert problems == [
        f"{name}: {images.LOCK} is stale (its pip lines changed): python -m stack.images lock"
    ]


def test_lazy_imports_count_and_fallbacks_do_not():
    """`whisperlive serve` imports torch only inside launcher.serve(); the walk still finds it, and the
    chain through upstream's own module-level imports (whisper-live is installed with --no-deps)."""
    imported, reached = third_party_imports(
        entries(("python", "-m", "whisperlive", "serve")), frozenset({"whisper_live"})
    )
    chains = {i.module: i.chain for i in imported}
    assert chains["torch"][-2:] == ("whisperlive.launcher", "whisperlive.upstream")
    assert "ctranslate2" in chains and chains["ctranslate2"][-1].startswith("whisper_live.")
    assert reached == {"whisperlive", "loadgen"}
    # `loadgen serve` walks the CLI's module level and the serve command: not chaos's local-stack imports.
    imported, reached = third_party_imports(entries(("loadgen", "serve", "--clients", "0")))
    assert reached == {"loadgen"} and "torch" not in {i.module for i in imported}
    assert entries(("nginx", "-g", "daemon off;")) == ()
    assert entries(("python", "-c", "import urllib.request")) == (Entry("-c:import urllib.request"),)


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen(images.PYPI, timeout=10):
            return True
    except OSError:
        return False


@pytest.mark.skipif(
    os.environ.get("IMAGE_LOCK_ONLINE") != "1",
    reason="resolving the images' pins takes minutes against PyPI: IMAGE_LOCK_ONLINE=1 to run it",
)
def test_the_lock_is_what_pypi_resolves_today():
    if not _pypi_reachable():
        pytest.skip(f"{images.PYPI} is not reachable from here")
    lock = read_lock()
    for name, python in images.IMAGES.items():
        fresh = images.lock_image((ROOT / name).read_text(), python)
        assert fresh["distributions"] == lock[name].distributions, f"{name}: python -m stack.images lock"
