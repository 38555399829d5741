"""crm.web.db.prepared_statements: the database options that let PostgreSQL plan a
statement once per connection instead of on every run, and why they are off by default."""

import pytest
from django.db import connection, connections

from crm.web.db import prepared_statements


@pytest.mark.parametrize(("setting", "uses"), [("5", 5), ("0", 0), (" 12 ", 12)])
def test_a_whole_number_prepares_after_that_many_uses(setting, uses):
    assert prepared_statements(setting) == {"server_side_binding": True, "prepare_threshold": uses}


@pytest.mark.parametrize("setting", ["off", "OFF", "none", "no", ""])
def test_off_leaves_django_s_defaults(setting):
    assert prepared_statements(setting) == {}


@pytest.mark.parametrize("setting", ["five", "-1", "2.5"])
def test_anything_else_is_refused_with_a_clear_message(setting):
    with pytest.raises(ValueError, match="DB_PREPARE_THRESHOLD"):
        prepared_statements(setting)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares statements")
def test_by_default_a_statement_run_often_is_planned_for_its_own_values_every_time():
    """Nothing is prepared unless DB_PREPARE_THRESHOLD asks: a prepared statement gets one
    generic plan from its sixth run on, and the list's search for a rare word took 200 ms
    instead of 8 with it at a million leads."""
    assert not connection.features.uses_server_side_binding
    connection.ensure_connection()
    with connection.cursor() as cursor:
        for n in range(15):
            cursor.execute("SELECT count(*) FROM auth_user WHERE username LIKE %s", [f"%{n}%"])
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares statements")
def test_with_a_threshold_a_statement_run_often_is_prepared_once():
    options = {**connection.settings_dict["OPTIONS"], **prepared_statements("5")}
    options.pop("pool", None)  # a connection of its own, outside the test's pool
    wrapper = type(connections["default"])
    prepared = wrapper({**connection.settings_dict, "OPTIONS": options}, "prepared")
    try:
        with prepared.cursor() as cursor:
            for n in range(8):
                cursor.execute("SELECT %s::int + 1", [n])
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ["SELECT $1::int + 1%"],
            )
            assert cursor.fetchone()[0] == 1
    finally:
        prepared.close()
