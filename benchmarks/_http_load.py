"""The load generator of benchmarks/api_submit.py, run as its own process (never inside gunicorn's).

    python benchmarks/_http_load.py --url http://127.0.0.1:8765 --kind submit --n 5000 --concurrency 16 --key ...

Threads with one keep-alive HTTP/1.1 connection each (http.client, the standard library: nothing to
install); a connection the server closed is opened again. Prints one JSON line: the wall time, the
latency of every request in ms, and the statuses.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project's packages
from applications.tests.payloads import application_payload  # the API tests' valid body


def submit_body(n: int, run: str) -> dict:
    """A valid application of a new customer (the most statements a submission sends)."""
    return application_payload(
        external_ref=f"B-{run}-{n}",
        customer={
            "external_ref": f"C-{run}-{n}",
            "full_name": f"Bench Customer {n}",
            "email": f"bench{n}@example.com",
            "phone": f"+1 212 555 {n % 10000:04d}",
            "address": f"{n} Bench Street",
            "pan": f"ABCPE{n % 10000:04d}{'FGHJKLMNPQ'[n // 10000 % 10]}",
        },
        repayment_history=[{"month": "2026-01", "status": "on_time"}],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["health", "submit"], required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--key", default="")
    parser.add_argument("--run", default=uuid.uuid4().hex[:8])
    args = parser.parse_args()
    target = urlparse(args.url)
    # A TLS-terminating proxy in front of gunicorn says so (production settings redirect plain HTTP).
    headers = {"X-Forwarded-Proto": "https", "Host": "localhost"}
    if args.kind == "submit":
        headers |= {"Authorization": f"Api-Key {args.key}", "Content-Type": "application/json"}

    next_index = iter(range(args.n))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    def worker() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        mine: list[float] = []
        seen: dict[str, int] = {}
        while True:
            with lock:
                n = next(next_index, None)
            if n is None:
                break
            if args.kind == "submit":
                method, path = "POST", "/api/v1/applications/"
                body = json.dumps(submit_body(n, args.run)).encode()
                request_headers = headers | {"Idempotency-Key": f"{args.run}-{n}"}
            else:
                method, path, body, request_headers = "GET", "/health/", None, headers
            started = time.perf_counter()
            for attempt in (1, 2):
                try:
                    conn.request(method, path, body=body, headers=request_headers)
                    response = conn.getresponse()
                    response.read()
                    status = str(response.status)
                    if response.getheader("Connection", "").lower() == "close" or response.will_close:
                        conn.close()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # The server closed an idle keep-alive connection: open another (once).
                    conn.close()
                    if attempt == 2:
                        status = "disconnected"
                except OSError as exc:
                    conn.close()
                    status = type(exc).__name__
                    break
            mine.append((time.perf_counter() - started) * 1000)
            seen[status] = seen.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(json.dumps({"wall_s": wall, "latencies_ms": latencies, "statuses": statuses, "run": args.run}))


if __name__ == "__main__":
    main()
