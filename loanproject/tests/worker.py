"""A real `celery -A loanproject worker` process for tests, with production settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from .processes import ROOT, stop


class Worker:
    """`celery -A loanproject worker` as a child process, its stderr collected line by line.

    The worker and its pool processes form their own process group, so `kill()` takes all of them
    down at once, as a host losing power or the OOM killer would."""

    def __init__(self, env: dict, *args: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "loanproject",
                "worker",
                "--concurrency=1",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker never logged {text!r}:\n" + "\n".join(self.lines))
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the whole process group: nothing finishes, nothing is acknowledged."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=5)

    def stop(self) -> None:
        stop(self.process)
        self._reader.join(timeout=5)
