"""`make run` serves where PORT (and ADDR) say, and the demo prints links to that place. Checked
with `make -n`, which prints the commands without running them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on the PATH")


def planned(*arguments: str, **environment: str) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key not in {"ADDR", "PORT", "MAKEFLAGS"}}
    result = subprocess.run(
        ["make", "-n", *arguments],
        cwd=ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [
        line
        for line in result.stdout.splitlines()
        if "manage.py load_demo_data" in line or "manage.py runserver" in line
    ]


def test_make_run_serves_on_127_0_0_1_port_8000_by_default():
    assert planned("run") == [
        ".venv/bin/python manage.py load_demo_data --url http://127.0.0.1:8000",
        ".venv/bin/python manage.py runserver 127.0.0.1:8000",
    ]


def test_port_from_the_environment_moves_the_server_and_the_printed_links():
    assert planned("run", PORT="8001") == [
        ".venv/bin/python manage.py load_demo_data --url http://127.0.0.1:8001",
        ".venv/bin/python manage.py runserver 127.0.0.1:8001",
    ]


def test_addr_and_port_as_make_arguments():
    assert planned("run", "ADDR=0.0.0.0", "PORT=9000") == [
        ".venv/bin/python manage.py load_demo_data --url http://0.0.0.0:9000",
        ".venv/bin/python manage.py runserver 0.0.0.0:9000",
    ]
