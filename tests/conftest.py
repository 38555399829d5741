import importlib

import pytest
from django.apps import apps

from tests.factories import ManagerFactory, RepFactory, UserFactory


@pytest.fixture(autouse=True)
def migrated_rows(request):
    """Transactional tests (browser tests, task workers) end by flushing every table, data
    migrations' rows included: the groups, the default pipeline, the lead sources, the
    loss reasons and the scoring criteria. Put them back (the migrations' functions
    create only what is missing) before each one."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or "live_server" in (
        request.fixturenames
    )
    if not transactional and not (marker and marker.kwargs.get("transaction")):
        return
    request.getfixturevalue("transactional_db")
    pipelines = importlib.import_module("pipelines.migrations.0002_default_pipeline")
    leads = importlib.import_module("leads.migrations.0002_default_sources_and_groups")
    pipelines.create_default_pipeline(apps, None)
    leads.create_sources(apps, None)
    leads.create_groups(apps, None)
    importlib.import_module("leads.migrations.0011_closing").seed_reasons(apps, None)
    importlib.import_module("leads.migrations.0014_scoring").seed_criteria(apps, None)
    importlib.import_module("leads.migrations.0023_saved_views").let_managers_share(apps, None)


@pytest.fixture(scope="session", autouse=True)
def dutch_catalogue():
    """The Dutch .mo, compiled from the .po as `make test` does, for a plain `pytest` too."""
    from crm.management.commands.compile_translations import compile_catalogues

    compile_catalogues()


@pytest.fixture(autouse=True)
def english_after_each_test():
    """A request in Dutch leaves Dutch active in the thread (LocaleMiddleware activates and
    nothing deactivates): the next test starts in English again."""
    yield
    from django.utils import translation

    translation.activate("en")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 is slow on purpose; tests need no protection from brute force."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def rep(db):
    return RepFactory(username="alice")


@pytest.fixture
def other_rep(db):
    return RepFactory(username="bob")


@pytest.fixture
def manager(db):
    return ManagerFactory(username="manager")


@pytest.fixture
def reader(db):
    """A signed-in user in no group: may read, not write."""
    return UserFactory(username="reader")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client
