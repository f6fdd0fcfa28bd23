"""Benchmark: partner submissions over gunicorn, as production serves them, beside GET /health/.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_submit BENCH_BROKER_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python benchmarks/api_submit.py [--n 5000] [--concurrency 16] [--workers 4] [--threads 1]

1. A fresh database, migrated; production settings (loanproject.settings.production: DEBUG off,
   JSON logs at INFO, Redis as broker and cache, Prometheus multiprocess files), with throwaway
   keys; PARTNER_THROTTLE_RATE raised so the partner's budget does not refuse the load.
2. A partner and an API key, through the services. In this process, after one warm-up submission,
   one submission's statements are counted (CaptureQueriesContext; BEGIN and COMMIT apart) and
   --profile submissions are timed and profiled (cProfile, the top functions printed).
3. gunicorn started as README's production command does (`gunicorn -c loanproject/gunicorn.conf.py
   loanproject.wsgi`, WEB_CONCURRENCY=--workers, GUNICORN_CMD_ARGS="--threads T" when T > 1).
4. From a separate process (benchmarks/_http_load.py, threads with keep-alive connections, as a
   TLS-terminating proxy would send them: X-Forwarded-Proto: https): --n GET /health/ (the
   floor: Django's middleware and gunicorn, nothing of ours), then --n submissions of new customers
   with an Idempotency-Key each, both at --concurrency. The client shares the 2 cores.
   The CPU each part used meanwhile (gunicorn's processes, the bench database's server processes,
   the load client; /proc) per request, and the ceiling that leaves on this machine's cores.
5. gunicorn stopped, a Celery worker started (`celery -A loanproject worker`), the outbox relayed;
   when nothing is left to score, every application must have exactly one scoring run.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._setup import ROOT, fresh_database

GOAL_PER_SECOND = 300
GOAL_P99_MS = 150
VENV_BIN = Path(sys.executable).parent


def production_environment(database_url: str, broker_url: str, workers: int, threads: int, port: int) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="loanproject.settings.production",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CACHE_URL=broker_url,
        DJANGO_SECRET_KEY=base64.b64encode(os.urandom(48)).decode(),
        FIELD_ENCRYPTION_KEYS="bench:" + base64.b64encode(os.urandom(32)).decode(),
        BLIND_INDEX_KEY=base64.b64encode(os.urandom(32)).decode(),
        DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1,testserver",
        PARTNER_THROTTLE_RATE="1000000/min",
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="bench_submit_prometheus_"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(workers),
    )
    env.pop("DJANGO_DEBUG", None)
    if threads > 1:
        env["GUNICORN_CMD_ARGS"] = f"--threads {threads}"
    return env


def setup(env: dict) -> tuple[str, object]:
    """Migrate; a partner with a key (services, as `manage.py create_partner` does)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from applications import services

    partner = services.register_partner(name="Bench Partner", code="bench")
    _, key = services.issue_partner_api_key(partner=partner, name="bench")
    return key, partner


def in_process(key: str, profile_n: int) -> dict:
    """Statements of one submission (warm) and the server time of --profile ones, profiled."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from benchmarks._http_load import submit_body

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_X_FORWARDED_PROTO="https")

    def post(n: int):
        return client.post(
            "/api/v1/applications/",
            data=json.dumps(submit_body(n, "inproc")),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"inproc-{n}",
        )

    assert post(0).status_code == 202  # warm-up: the key and content types, read once per process
    with CaptureQueriesContext(connection) as queries:
        assert post(1).status_code == 202
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    counted = [s for s in statements if s not in ("BEGIN", "COMMIT")]
    with CaptureQueriesContext(connection) as health_queries:
        assert client.get("/health/").status_code == 200

    started, cpu = time.perf_counter(), time.process_time()
    for n in range(2, 2 + profile_n):
        assert post(n).status_code == 202
    per_request_ms = (time.perf_counter() - started) * 1000 / profile_n
    cpu_ms = (time.process_time() - cpu) * 1000 / profile_n
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(2 + profile_n, 2 + 2 * profile_n):
        assert post(n).status_code == 202
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(r"(applications|loanproject|rest_framework|auditlog|psycopg)/", 30)
    stats.sort_stats("tottime").print_stats(20)
    return {
        "statements": len(counted),
        "health_statements": len(health_queries),
        "server_ms": per_request_ms,
        "cpu_ms": cpu_ms,
        "profile": text.getvalue(),
    }


def _log_file(name: str) -> IO[str]:
    """A file kept after the run for the process's output (closed by the caller)."""
    return tempfile.NamedTemporaryFile("w", prefix=f"bench_submit_{name}_", suffix=".log", delete=False)


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            request = urllib.request.Request(f"{url}/health/", headers={"X-Forwarded-Proto": "https"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /health/ in time")


TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each live process has used so far (/proc/<pid>/stat)."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        used[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND  # utime, stime
    return used


def web_pids(gunicorn: subprocess.Popen) -> list[int]:
    """gunicorn's master and its workers."""
    children = Path(f"/proc/{gunicorn.pid}/task/{gunicorn.pid}/children").read_text().split()
    return [gunicorn.pid, *map(int, children)]


def database_pids(database_url: str) -> list[int]:
    """The server processes of the bench database's connections (gunicorn keeps its own open)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        name = connection.info.dbname
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
        ).fetchall()
    return [row[0] for row in rows]


def cpu_split(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds used between two readings, per part (a process new in `after` counts from 0)."""
    return {part: sum(seconds - before[part].get(pid, 0.0) for pid, seconds in after[part].items()) for part in after}


def load(url: str, kind: str, n: int, concurrency: int, key: str, cpu_of: dict | None = None) -> dict:
    """`n` requests of `kind` from a separate process; with `cpu_of` ({part: () -> pids}), also the
    CPU seconds each part and the load client used meanwhile."""
    command = [sys.executable, str(ROOT / "benchmarks" / "_http_load.py"), "--url", url, "--kind", kind]
    command += ["--n", str(n), "--concurrency", str(concurrency), "--key", key]
    before = {part: cpu_seconds(pids()) for part, pids in (cpu_of or {}).items()}
    client_before = os.times()
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    client_after = os.times()
    after = {part: cpu_seconds(pids()) for part, pids in (cpu_of or {}).items()}
    cpu = cpu_split(before, after)
    cpu["client"] = (client_after.children_user + client_after.children_system) - (
        client_before.children_user + client_before.children_system
    )
    latencies = sorted(result["latencies_ms"])
    ok = "202" if kind == "submit" else "200"
    accepted = result["statuses"].get(ok, 0)
    return {
        "kind": kind,
        "n": n,
        "accepted": accepted,
        "errors": n - accepted,
        "statuses": result["statuses"],
        "per_second": accepted / result["wall_s"],
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "wall_s": result["wall_s"],
        "cpu_ms": {part: seconds * 1000 / max(accepted, 1) for part, seconds in cpu.items()},
    }


def score_everything(env: dict, timeout: float) -> dict:
    """A Celery worker relays the outbox and scores; then each application must have one run."""
    from django.db.models import Count

    from agents.models import ScoringRun
    from applications.lifecycle import ApplicationStatus
    from applications.models import LoanApplication
    from loanproject.core.models import OutboxEvent
    from loanproject.core.tasks import relay_outbox_task

    log = _log_file("worker")
    worker = subprocess.Popen(
        [str(VENV_BIN / "celery"), "-A", "loanproject", "worker", "--concurrency", "2", "--without-mingle"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pending_statuses = [ApplicationStatus.SUBMITTED, ApplicationStatus.SCORING]
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            # What beat's schedule does every few seconds in production (no beat runs here).
            relay_outbox_task.delay()
            time.sleep(3)
            waiting = LoanApplication.objects.filter(status__in=pending_statuses).count()
            unpublished = OutboxEvent.objects.filter(published_at__isnull=True).count()
            if not waiting and not unpublished:
                break
        scoring_s = time.monotonic() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
    runs = dict(
        ScoringRun.objects.values_list("application").annotate(runs=Count("id")).values_list("application", "runs")
    )
    applications = list(LoanApplication.objects.values_list("pk", flat=True))
    return {
        "applications": len(applications),
        "scored_once": sum(1 for pk in applications if runs.get(pk) == 1),
        "not_scored": sum(1 for pk in applications if pk not in runs),
        "scored_more": sum(1 for pk in applications if runs.get(pk, 0) > 1),
        "seconds": scoring_s,
        "worker_log": log.name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="requests of each kind (default 5000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="WEB_CONCURRENCY: gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--profile", type=int, default=200, help="submissions timed and profiled in-process")
    parser.add_argument("--score-timeout", type=float, default=900)
    parser.add_argument("--no-scoring", action="store_true", help="skip step 5")
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_submit")
    broker_url = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/4")
    fresh_database(database_url)
    subprocess.run([sys.executable, "-c", f"import redis; redis.Redis.from_url({broker_url!r}).flushdb()"], check=True)
    env = production_environment(database_url, broker_url, args.workers, args.threads, args.port)
    key, _ = setup(env)
    measured = in_process(key, args.profile)
    print(
        f"in-process: {measured['statements']} statements per submission (BEGIN/COMMIT apart), "
        f"/health/ {measured['health_statements']}; {measured['server_ms']:.2f} ms per submission, "
        f"{measured['cpu_ms']:.2f} ms of it on this process's CPU (test client, {args.profile} timed, "
        f"{args.profile} more profiled)"
    )
    print(measured["profile"])

    from django.db import connections

    connections.close_all()
    url = f"http://127.0.0.1:{args.port}"
    log = _log_file("gunicorn")
    gunicorn = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", "loanproject/gunicorn.conf.py", "loanproject.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_up(url, gunicorn)
        load(url, "health", min(args.n, 500), args.concurrency, key)  # every worker warm
        cpu_of = {"web": lambda: web_pids(gunicorn), "database": lambda: database_pids(database_url)}
        health = load(url, "health", args.n, args.concurrency, key, cpu_of)
        load(url, "submit", min(args.n // 10, 200), args.concurrency, key)  # warm-up, scored too
        submit = load(url, "submit", args.n, args.concurrency, key, cpu_of)
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=60)
        log.close()

    threads = f"{args.threads} thread(s)" if args.threads > 1 else "sync"
    load_average = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"\ngunicorn {args.workers} workers ({threads}), client concurrency {args.concurrency}, "
        f"{args.n} requests each; load average {load_average} after the run (log: {log.name})"
    )
    print("| Request | Accepted/s | p50 ms | p99 ms | Errors | Statements/request | Goal |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| GET /health/ (floor) | {health['per_second']:.0f} | {health['p50']:.1f} | {health['p99']:.1f} "
        f"| {health['errors']} | {measured['health_statements']} | — |"
    )
    print(
        f"| POST /api/v1/applications/ | {submit['per_second']:.0f} | {submit['p50']:.1f} | {submit['p99']:.1f} "
        f"| {submit['errors']} {'' if not submit['errors'] else submit['statuses']} | {measured['statements']} "
        f"| ≥ {GOAL_PER_SECOND}/s, p99 < {GOAL_P99_MS} ms |"
    )
    cores = os.cpu_count() or 1
    print(
        "\nCPU per request (ms; user + system, read from /proc): where the load's cost goes, and the ceiling "
        f"of requests per second it leaves on {cores} cores with nothing else running"
    )
    print("| Request | gunicorn | PostgreSQL (its backends) | load client | total | ceiling/s |")
    print("|---|---|---|---|---|---|")
    for label, measured_load in (("GET /health/", health), ("POST /api/v1/applications/", submit)):
        cpu = measured_load["cpu_ms"]
        total = sum(cpu.values())
        print(
            f"| {label} | {cpu['web']:.2f} | {cpu['database']:.2f} | {cpu['client']:.2f} | {total:.2f} "
            f"| {cores * 1000 / total:.0f} |"
        )
    if args.no_scoring:
        return
    scored = score_everything(env, args.score_timeout)
    print(
        f"\nscoring (Celery worker, 2 processes): {scored['applications']} applications, "
        f"{scored['scored_once']} scored exactly once, {scored['not_scored']} not scored, "
        f"{scored['scored_more']} more than once, in {scored['seconds']:.0f} s (log: {scored['worker_log']})"
    )
    if scored["scored_once"] != scored["applications"]:
        raise SystemExit("FAILED: not every application was scored exactly once")


if __name__ == "__main__":
    main()
