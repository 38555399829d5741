import pytest

from tests.factories import ManagerFactory, RepFactory, UserFactory


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
