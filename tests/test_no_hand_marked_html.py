"""Nothing turns off escaping by hand: markup comes from templates or ``format_html``.

Ruff's S308 catches ``mark_safe`` in Python; this also covers ``SafeString`` and the
templates, where ``|safe``, ``|safeseq`` and ``{% autoescape off %}`` would do the same.
"""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = ["crm", "leads", "pipelines", "bench"]
UNSAFE_TEMPLATE = re.compile(r"\|\s*safe(seq)?\b|{%-?\s*autoescape\s+off")
UNSAFE_PYTHON = re.compile(r"\b(mark_safe|SafeString|SafeText)\b")


def template_files() -> list[Path]:
    dirs = [ROOT / "templates", *(ROOT / app / "templates" for app in APPS)]
    return sorted(path for d in dirs if d.is_dir() for path in d.rglob("*.html"))


def test_the_scan_finds_the_templates_and_the_code():
    assert ROOT / "templates" / "base.html" in template_files()
    assert (ROOT / "leads" / "templatetags" / "lead_badges.py").is_file()


def test_no_template_turns_off_escaping():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in template_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSAFE_TEMPLATE.search(line)
    ]
    assert offenders == []


def test_no_python_marks_a_string_safe_by_hand():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSAFE_PYTHON.search(line)
    ]
    assert offenders == []
