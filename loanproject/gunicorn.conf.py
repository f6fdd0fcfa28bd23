"""gunicorn settings: `gunicorn -c loanproject/gunicorn.conf.py loanproject.wsgi`.

GUNICORN_BIND (default 0.0.0.0:8000) and WEB_CONCURRENCY (worker processes, default 4) come from
the environment; command-line options override both.

With PROMETHEUS_MULTIPROC_DIR set, every worker writes its metrics into that directory and
/metrics merges them: the directory must exist, be shared with the Celery workers of this host,
and be emptied before the processes start (at each deploy), or the counters of dead processes
from an earlier run are counted again.
"""

import os

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))


def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and not os.path.isdir(directory):
        raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR={directory} is not a directory: create it (empty) first")


def child_exit(server, worker) -> None:
    """A dead worker's counters still count; its live gauges must go."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
