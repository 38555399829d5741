"""Django's makemessages with the project's settings, so that `manage.py makemessages -l nl`,
`make messages` and the test that the catalogue is up to date read the same files.

- Our code and templates only: not the virtual environments, tests, benchmarks or docs.
- References by file, without line numbers: an edit elsewhere in a file does not rewrite
  the catalogue.
- No obsolete entries: a string gone from the code is gone from the catalogue.
"""

from django.core.management.commands import makemessages

IGNORED = [".venv*", "tests/*", "bench/*", "docs/*", "staticfiles/*", "node_modules/*"]


class Command(makemessages.Command):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        options["add_location"] = options.get("add_location") or "file"
        options["no_obsolete"] = True
        return super().handle(*args, **options)
