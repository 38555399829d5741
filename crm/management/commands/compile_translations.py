"""Compile locale/*/LC_MESSAGES/django.po into the .mo files Django reads.

`make run` and `make test` (and the test suite's own set-up) run it, so a fresh clone speaks
Dutch without GNU gettext installed: Babel, which the app needs anyway, writes the .mo. A .mo
newer than its .po is left alone. Fuzzy entries are left out, as msgfmt leaves them out.
"""

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand


def compile_catalogues(force: bool = False) -> list[Path]:
    """Compile every out-of-date catalogue under LOCALE_PATHS; the .mo files written."""
    written = []
    for root in settings.LOCALE_PATHS:
        for po_path in sorted(Path(root).glob("*/LC_MESSAGES/*.po")):
            mo_path = po_path.with_suffix(".mo")
            fresh = mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime
            if fresh and not force:
                continue
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            partial = mo_path.with_suffix(f".mo.{os.getpid()}")  # test workers compile at once
            with partial.open("wb") as mo_file:
                write_mo(mo_file, catalog, use_fuzzy=False)
            partial.replace(mo_path)  # a reader never sees half a file
            written.append(mo_path)
    return written


class Command(BaseCommand):
    help = "Compile the translation catalogues (locale/*/LC_MESSAGES/django.po) with Babel."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Compile even when up to date.")

    def handle(self, *args, force=False, **options):
        written = compile_catalogues(force=force)
        for path in written:
            self.stdout.write(f"Compiled {path.relative_to(settings.BASE_DIR)}")
        if not written:
            self.stdout.write("Translations are up to date.")
