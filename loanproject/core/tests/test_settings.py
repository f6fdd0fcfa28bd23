import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def load_production_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="loanproject.settings.production")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60,
    )


def test_production_refuses_to_start_without_secrets():
    result = load_production_settings()

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEYS, BLIND_INDEX_KEY" in result.stderr


def test_production_starts_with_its_secrets():
    key = base64.b64encode(b"k" * 32).decode()
    result = load_production_settings(
        DJANGO_SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS=f"p1:{key}", BLIND_INDEX_KEY=key
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_production_refuses_a_malformed_key():
    result = load_production_settings(
        DJANGO_SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS="p1:dG9vLXNob3J0", BLIND_INDEX_KEY="dG9vLXNob3J0"
    )

    assert result.returncode != 0
    assert "must decode to 32 bytes" in result.stderr


def test_production_refuses_an_unknown_log_format_with_a_clear_message():
    key = base64.b64encode(b"k" * 32).decode()
    result = load_production_settings(
        DJANGO_SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS=f"p1:{key}", BLIND_INDEX_KEY=key, LOG_FORMAT="xml"
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: LOG_FORMAT must be one of text, json, got 'xml'" in result.stderr


def test_production_redirects_to_https_except_probes_and_metrics(tmp_path):
    key = base64.b64encode(b"k" * 32).decode()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    clean.update(
        DJANGO_SETTINGS_MODULE="loanproject.settings.production", DJANGO_SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEYS=f"p1:{key}", BLIND_INDEX_KEY=key, DJANGO_ALLOWED_HOSTS="backoffice.example.com,10.0.0.5",
        DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}",
    )
    script = (
        "import django; django.setup(); from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from django.test import Client; c = Client(HTTP_HOST='10.0.0.5');"
        "print(*[c.get(p).status_code for p in ('/health/', '/metrics', '/metrics/', '/admin/login/')])"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "200", "200", "301"]
