import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from loanproject.core.models import OutboxEvent

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def value_of(body: str, name: str) -> float:
    return float(next(line.split()[1] for line in body.splitlines() if line.startswith(name + " ")))


def test_outbox_lag_is_measured_at_scrape_time(client):
    OutboxEvent.objects.create(
        topic="t", aggregate_type="x", aggregate_id="1", created_at=timezone.now() - timedelta(seconds=90)
    )

    body = client.get("/metrics").content.decode()

    assert value_of(body, "outbox_pending_events") == 1.0
    assert 90 <= value_of(body, "outbox_lag_seconds") < 120


@pytest.mark.parametrize("path", ["/metrics", "/metrics/"])
def test_metrics_answer_with_and_without_the_slash(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "outbox_pending_events 0.0" in response.content.decode()


@pytest.mark.parametrize(
    "authorization, status",
    [("", 401), ("Bearer wrong", 401), ("Bearer s3cret-scrape", 200), ("bearer s3cret-scrape", 401)],
)
def test_with_a_metrics_token_only_a_scraper_sending_it_is_answered(client, settings, authorization, status):
    settings.METRICS_TOKEN = "s3cret-scrape"

    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization) if authorization else client.get("/metrics")

    assert response.status_code == status
    assert ("outbox_pending_events" in response.content.decode()) is (status == 200)


def test_the_worker_port_is_not_served_without_the_multiprocess_directory(settings, monkeypatch, caplog):
    from loanproject.core import metrics

    settings.CELERY_METRICS_PORT = 9999
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    started = []
    monkeypatch.setattr(metrics, "start_http_server", lambda *args, **kwargs: started.append(args))

    metrics.serve_worker_metrics()

    assert started == []
    assert "CELERY_METRICS_PORT is set but PROMETHEUS_MULTIPROC_DIR is not" in caplog.text


def write_counter_in_another_process(directory: Path, amount: int) -> None:
    """What a gunicorn or Celery worker process does: count something in multiprocess mode."""
    script = textwrap.dedent(f"""
        from prometheus_client import Counter
        Counter("tests_jobs_done", "Jobs done by another process", ["kind"]).labels(kind="demo").inc({amount})
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, timeout=60)


def test_multiprocess_mode_merges_the_counters_of_other_processes(client, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    OutboxEvent.objects.create(topic="t", aggregate_type="x", aggregate_id="1")
    write_counter_in_another_process(tmp_path, 2)
    write_counter_in_another_process(tmp_path, 3)

    body = client.get("/metrics").content.decode()

    assert value_of(body, 'tests_jobs_done_total{kind="demo"}') == 5.0
    assert value_of(body, "outbox_pending_events") == 1.0


def test_without_multiprocess_mode_other_processes_are_not_seen(client, tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    write_counter_in_another_process(tmp_path, 2)

    assert "tests_jobs_done" not in client.get("/metrics").content.decode()


def load_gunicorn_config():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "loanproject" / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_marks_a_dead_worker_so_its_live_gauges_go(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_liveall_4242.db", "counter_4242.db", "gauge_livesum_7.db"):
        (tmp_path / name).write_bytes(b"")

    load_gunicorn_config().child_exit(None, SimpleNamespace(pid=4242))

    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db", "gauge_livesum_7.db"]


def test_gunicorn_refuses_to_start_without_the_multiprocess_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))

    with pytest.raises(RuntimeError, match="is not a directory: create it"):
        load_gunicorn_config().on_starting(None)


def test_gunicorn_reads_the_config_file():
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "loanproject/gunicorn.conf.py",
            "--print-config",
            "loanproject.wsgi",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in {"GUNICORN_BIND", "WEB_CONCURRENCY"}},
    )

    assert result.returncode == 0, result.stderr
    printed = dict(map(str.strip, line.split(" = ", 1)) for line in result.stdout.splitlines() if " = " in line)
    assert [printed[name] for name in ("bind", "workers", "on_starting", "child_exit")] == [
        "['0.0.0.0:8000']",
        "4",
        "<on_starting()>",
        "<child_exit()>",
    ]


def applied_migrations() -> int:
    from django.db.migrations.recorder import MigrationRecorder

    return MigrationRecorder.Migration.objects.count()


@pytest.mark.parametrize("multiprocess", [False, True], ids=["one process", "multiprocess"])
def test_the_migration_counts_are_read_at_scrape_time(client, tmp_path, monkeypatch, multiprocess):
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder

    if multiprocess:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    else:
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    applied = applied_migrations()
    assert applied > 80

    before = client.get("/metrics").content.decode()
    leaf = next(name for app, name in MigrationLoader(None).graph.leaf_nodes() if app == "core")
    MigrationRecorder.Migration.objects.filter(app="core", name=leaf).delete()  # as if the latest were not yet run
    after = client.get("/metrics").content.decode()

    assert value_of(before, 'django_migrations_applied_total{connection="default"}') == applied
    assert value_of(before, 'django_migrations_unapplied_total{connection="default"}') == 0.0
    assert value_of(after, 'django_migrations_applied_total{connection="default"}') == applied - 1
    assert value_of(after, 'django_migrations_unapplied_total{connection="default"}') == 1.0


def test_no_model_counts_are_exported(client):
    # Model counters would count ORM saves in Python, before commit, and miss the set-based bulk
    # paths (scoring, posting, imports): README says so and points to the business counters.
    # (django-prometheus declares the django_model_* families: their HELP lines stay, sample-less.)
    OutboxEvent.objects.create(topic="t", aggregate_type="x", aggregate_id="1")  # an ORM insert
    body = client.get("/metrics").content.decode()

    assert [line for line in body.splitlines() if line.startswith("django_model_")] == []
    assert "django_http_requests_total_by_method" in body
