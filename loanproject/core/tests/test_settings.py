import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import current_database_url

ROOT = Path(__file__).resolve().parents[3]


def load_production_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"}
    }
    # Only parsed, never connected to, when the settings load.
    clean.update(
        {"DATABASE_URL": "postgres://loans@db.example/loans", **env},
        DJANGO_SETTINGS_MODULE="loanproject.settings.production",
    )
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secrets_and_a_database():
    result = load_production_settings(DATABASE_URL="")

    assert result.returncode != 0
    assert (
        "need these environment variables: DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEYS, BLIND_INDEX_KEY, DATABASE_URL"
        in result.stderr
    )


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


@pytest.mark.django_db
def test_production_redirects_to_https_except_probes_and_metrics():
    key = base64.b64encode(b"k" * 32).decode()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean.update(
        DJANGO_SETTINGS_MODULE="loanproject.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEYS=f"p1:{key}",
        BLIND_INDEX_KEY=key,
        DJANGO_ALLOWED_HOSTS="backoffice.example.com,10.0.0.5",
        DATABASE_URL=current_database_url(),
    )
    script = (
        "import django; django.setup();"
        "from django.test import Client; c = Client(HTTP_HOST='10.0.0.5');"
        "print(*[c.get(p).status_code for p in ('/health/', '/metrics', '/metrics/', '/admin/login/')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "200", "200", "301"]
