"""Imports go one way (DESIGN.md), in every app's code, migrations and tests: tests that need
apps above their own live in loanproject/tests or loanproject/demo/tests.

    agents -> applications, finance      loans -> applications, ledger
    finance -> applications              applications, ledger -> (core only)
    loanproject.core -> (no app)

Every app may use loanproject.core; loanproject.celery is the project's Celery app, not an app."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"agents", "applications", "finance", "ledger", "loans", "loanproject"}


def imported_modules(package_dir: Path) -> dict[str, set[str]]:
    """Project modules imported anywhere under `package_dir`: import statements, and
    importlib.import_module("...") / __import__("...") with a literal name."""
    found: dict[str, set[str]] = {}
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names = [node.args[0].value]
            else:
                continue
            for name in names:
                if name.split(".")[0] in PROJECT_PACKAGES:
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def outside(modules: dict[str, set[str]], allowed: tuple[str, ...]) -> dict[str, set[str]]:
    return {
        module: files
        for module, files in modules.items()
        if not any(module == prefix or module.startswith(prefix + ".") for prefix in allowed)
    }


EVERYONE = ("loanproject.core", "loanproject.celery")
LAYERS = {
    "loanproject/core": ("loanproject.core",),
    "ledger": ("ledger", *EVERYONE),
    "applications": ("applications", *EVERYONE),
    "finance": ("finance", "applications", *EVERYONE),
    "agents": ("agents", "applications", "finance", *EVERYONE),
    "loans": ("loans", "applications", "ledger", *EVERYONE),
}


@pytest.mark.parametrize("package, allowed", LAYERS.items(), ids=list(LAYERS))
def test_each_app_imports_only_the_layers_below_it(package, allowed):
    assert outside(imported_modules(ROOT / package), allowed) == {}


def test_the_scan_sees_imports():
    modules = imported_modules(ROOT / "ledger")

    assert "loanproject.core.models" in modules or "loanproject.core.outbox" in modules
    assert outside({"applications.models": {"x.py"}, "loanproject.core.money": {"y.py"}}, ("loanproject.core",)) == {
        "applications.models": {"x.py"}
    }
