"""The embedded server: started on demand, its data kept between starts, stopped by the last
process out (also on SIGTERM, and after a user died without signing out)."""

from __future__ import annotations

import signal
import subprocess
import sys

import dj_database_url
import psycopg

from loanproject.embedded_postgres import database_url, sign_out

from .processes import ROOT


def connect(url: str) -> psycopg.Connection:
    config = dj_database_url.parse(url)
    return psycopg.connect(host=config["HOST"], user=config["USER"], dbname=config["NAME"], autocommit=True)


def running(data) -> bool:
    return (data / "postmaster.pid").exists()


def start_user(root) -> subprocess.Popen:
    """Another process that signs in, says so, and waits."""
    script = (
        "import sys, time; from pathlib import Path; from loanproject.embedded_postgres import database_url;"
        f"database_url('db', root=Path({str(root)!r})); print('in', flush=True); time.sleep(60)"
    )
    user = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert user.stdout.readline() == "in\n"
    return user


def test_the_data_outlives_the_server(tmp_path):
    url = database_url("db", root=tmp_path)
    with connect(url) as conn:
        conn.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('written before the stop')")
    sign_out(tmp_path / "db")
    assert not running(tmp_path / "db")

    assert database_url("db", root=tmp_path) == url
    with connect(url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("written before the stop",)]
    sign_out(tmp_path / "db")
    assert not running(tmp_path / "db")


def test_the_last_user_out_stops_the_server_even_on_sigterm(tmp_path):
    user = start_user(tmp_path)
    database_url("db", root=tmp_path)
    sign_out(tmp_path / "db")
    assert running(tmp_path / "db")  # the other user is still in

    user.send_signal(signal.SIGTERM)
    assert user.wait(timeout=30) == 128 + signal.SIGTERM
    assert not running(tmp_path / "db")


def test_a_user_killed_without_signing_out_does_not_keep_the_server_up(tmp_path):
    user = start_user(tmp_path)
    user.kill()
    user.wait(timeout=30)

    database_url("db", root=tmp_path)
    sign_out(tmp_path / "db")

    assert not running(tmp_path / "db")
