""".ci/run installs Chromium only when it is missing, refreshes the package lists first, and
refuses with a clear message when it is not root. Every outside command is a stub that records
its arguments, so nothing is installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stubs(tmp_path):
    """A PATH of stubs: `id -u` answers $STUB_UID, apt-get and make log their arguments (make fails,
    so the script stops before the real test run)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"

    def stub(name: str, body: str) -> None:
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)

    stub("id", 'echo "$STUB_UID"')
    stub("apt-get", f'echo "apt-get $*" >> {log}')
    stub("make", f'echo "make $*" >> {log}; exit 3')
    (bin_dir / "dirname").symlink_to("/usr/bin/dirname")

    def run(*, uid: int, chromium: bool = False) -> subprocess.CompletedProcess:
        if chromium:
            stub("chromium", "true")
        env = {"PATH": str(bin_dir), "STUB_UID": str(uid), "HOME": str(tmp_path)}
        result = subprocess.run(
            ["/bin/bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=30
        )
        result.calls = log.read_text().splitlines() if log.exists() else []
        return result

    return run


def test_as_root_without_chromium_it_updates_the_lists_then_installs(stubs):
    result = stubs(uid=0)

    assert result.calls == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends chromium",
        "make install",
    ]
    assert result.returncode == 3


def test_without_root_it_stops_with_a_clear_message_and_installs_nothing(stubs):
    result = stubs(uid=1000)

    assert result.returncode == 1
    assert "Chromium is missing and installing it needs root" in result.stderr
    assert "CHROMIUM_PATH" in result.stderr
    assert result.calls == []


def test_an_installed_chromium_is_used_as_it_is(stubs):
    result = stubs(uid=1000, chromium=True)

    assert result.calls == ["make install"]
    assert result.returncode == 3


def test_the_script_is_executable():
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
