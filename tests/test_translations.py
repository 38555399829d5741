"""The Dutch catalogue is complete and up to date (issue 21, items 1 and 5).

``makemessages`` runs over a copy of the code; the catalogue must hold exactly the strings it
finds, each translated (not empty, not fuzzy) and with the same placeholders. A string marked
in the code but missing from the catalogue, or one left there after the code dropped it, fails
here with the command that brings the catalogue up to date.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "nl" / "LC_MESSAGES" / "django.po"
SOURCES = ["crm", "leads", "pipelines", "templates", "manage.py"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%[sd]|\{\w*\}")


def _entries(path: Path) -> dict:
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale="nl")
    return {(message.context, _key(message.id)): message for message in catalogue if message.id}


def _key(message_id) -> str:
    return message_id[0] if isinstance(message_id, (list, tuple)) else message_id


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def _ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict:
    if not shutil.which("xgettext") or not shutil.which("msgmerge"):
        pytest.fail("GNU gettext is missing: `bash .ci/ensure-gettext` installs it.")
    copy = tmp_path_factory.mktemp("project")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    (copy / "locale" / "nl" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy2(CATALOGUE, copy / "locale" / "nl" / "LC_MESSAGES" / "django.po")
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "nl", "--verbosity", "0"],
        cwd=copy,
        check=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "crm.settings"},
    )
    return _entries(copy / "locale" / "nl" / "LC_MESSAGES" / "django.po")


@pytest.fixture(scope="module")
def committed() -> dict:
    return _entries(CATALOGUE)


def test_the_catalogue_holds_every_marked_string_and_no_other(fresh, committed):
    missing = sorted(set(fresh) - set(committed), key=str)
    stale = sorted(set(committed) - set(fresh), key=str)
    fix = "Run `make messages`, translate the new entries, and commit the .po."
    assert not missing, (
        f"{len(missing)} marked strings missing from the catalogue: {missing[:5]}. {fix}"
    )
    assert not stale, f"{len(stale)} entries no longer in the code: {stale[:5]}. {fix}"


def test_every_string_is_translated(committed):
    untranslated = [
        key for key, message in committed.items() if message.fuzzy or not all(_strings(message))
    ]
    assert not untranslated, (
        f"{len(untranslated)} entries of locale/nl/LC_MESSAGES/django.po have no Dutch "
        f"(or a fuzzy one): {untranslated[:10]}"
    )


def test_translations_keep_the_placeholders(committed):
    """The same placeholders as the English; a plural's singular may leave out the count
    ("de ene gebeurtenis"), as the English singular often does, but names nothing else."""
    broken = []
    for key, message in committed.items():
        ids, strings = _ids(message), _strings(message)
        if len(ids) == 1:
            if sorted(PLACEHOLDER.findall(strings[0])) != sorted(PLACEHOLDER.findall(ids[0])):
                broken.append(key)
            continue
        plural = sorted(PLACEHOLDER.findall(ids[1]))
        many_kept = sorted(PLACEHOLDER.findall(strings[-1])) == plural
        one_kept = set(PLACEHOLDER.findall(strings[0])) <= set(plural)
        if not (many_kept and one_kept):
            broken.append(key)
    assert not broken, f"Translations whose placeholders differ from the English: {broken[:10]}"


def test_what_the_admin_shows_of_our_models_is_translatable():
    """Every model the admin shows, and each of its fields, is named by a lazy translation:
    a field without a ``verbose_name`` is named after its attribute, in English."""
    from django.contrib import admin
    from django.utils.functional import Promise

    english = []
    for model in admin.site._registry:
        if model._meta.app_label not in {"crm", "leads", "pipelines"}:
            continue
        names = [model._meta.verbose_name, model._meta.verbose_name_plural]
        english += [f"{model.__name__}" for name in names if not isinstance(name, Promise)]
        english += [
            f"{model.__name__}.{field.name}"
            for field in model._meta.get_fields()
            if field.concrete
            and not field.auto_created
            and not isinstance(field.verbose_name, Promise)
        ]
    assert not english, f"Name these in a gettext_lazy verbose_name: {english}"
