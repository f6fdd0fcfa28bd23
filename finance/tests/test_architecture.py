"""Imports go one way: finance uses applications and loanproject.core; nothing below uses finance."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"agents", "applications", "finance", "ledger", "loans", "loanproject"}


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in PROJECT_PACKAGES:
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_finance_imports_only_applications_and_core():
    allowed = ("finance", "applications", "loanproject.core")
    offending = {
        module: files
        for module, files in imported_modules("finance").items()
        if not any(module == prefix or module.startswith(prefix + ".") for prefix in allowed)
    }

    assert offending == {}


def test_lower_layers_never_import_finance():
    for package in ("applications", "ledger", "loanproject/core"):
        users = {module: files for module, files in imported_modules(package).items() if module.split(".")[0] == "finance"}
        assert users == {}, package
