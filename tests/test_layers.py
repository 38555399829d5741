"""The layers of .importlinter hold, and the contract would catch an upward import."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layers_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_upward_import_breaks_the_contract(tmp_path):
    for package in ("crm", "leads", "pipelines"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    kit = tmp_path / "crm" / "web" / "htmx.py"
    kit.write_text(kit.read_text() + "\nfrom leads.models import Lead  # noqa\n")
    forms = tmp_path / "leads" / "forms.py"
    forms.write_text(forms.read_text() + "\nfrom leads.imports import field_labels  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "crm.web.htmx -> leads.models" in result.stdout
    assert "leads.forms -> leads.imports" in result.stdout
