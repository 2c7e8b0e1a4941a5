"""Session ids, key layout and the ODOO_SESSION_REDIS_* variables."""
import pytest

from odoo_cloud.config import ConfigError, load_settings
from odoo_cloud.sessions import KeyLayout, generate_sid, is_valid_identifier, is_valid_sid
from odoo_cloud.sessions.connection import build_client

VALID = "A" * 84


def test_generated_ids_have_odoo_18_shape_and_do_not_repeat():
    ids = {generate_sid() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(is_valid_sid(i) for i in ids)


@pytest.mark.parametrize("value", [
    VALID[:-1], VALID + "A", VALID[:-1] + "\n", VALID[:-1] + "/", "../" + VALID[3:], VALID[:-2] + "..",
    VALID[:-1] + "*", VALID[:-1] + "=", VALID[:-1] + " ", VALID[:-1] + "é", "", None, 42, b"A" * 84,
])
def test_hostile_ids_are_invalid(value):
    assert not is_valid_sid(value)


def test_identifier_is_exactly_42_id_characters():
    assert is_valid_identifier("a" * 42)
    for bad in ("a" * 41, "a" * 43, "a" * 41 + "*", "a" * 41 + "?", "", "a" * 41 + "\n"):
        assert not is_valid_identifier(bad)


def test_key_layout_and_scan_pattern_escape_glob_characters():
    keys = KeyLayout("acme-odoo-prod")
    assert keys.session(VALID) == f"acme-odoo-prod:session:{VALID}"
    assert keys.meta("x") == "acme-odoo-prod:meta:x"
    assert keys.session_pattern("ab") == "acme-odoo-prod:session:ab*"
    assert KeyLayout("a[b]?*").session_pattern() == r"a\[b\]\?\*:session:*"
    assert keys.sid_of(keys.session(VALID).encode()) == VALID


def test_defaults():
    s = load_settings({}).sessions
    assert (s.connect_timeout, s.timeout, s.retries) == (1.0, 2.0, 1)
    assert s.key_prefix == "odoo" and s.authenticated_ttl == 7 * 24 * 3600
    assert s.expiration_anonymous == 3 * 3600
    assert s.import_filesystem is False and s.refresh_interval is None


def test_new_variables_parse():
    s = load_settings({
        "ODOO_SESSION_REDIS_CONNECT_TIMEOUT": "0.25", "ODOO_SESSION_REDIS_TIMEOUT": "0.5",
        "ODOO_SESSION_REDIS_RETRIES": "0", "ODOO_SESSION_REDIS_REFRESH_INTERVAL": "120",
        "ODOO_SESSION_REDIS_IMPORT_FILESYSTEM": "yes", "ODOO_SESSION_REDIS_PREFIX": "acme-odoo-test",
        "ODOO_SESSION_REDIS_SENTINEL_HOST": "s1, s2:26380", "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME": "m",
    }).sessions
    assert (s.connect_timeout, s.timeout, s.retries, s.refresh_interval) == (0.25, 0.5, 0, 120)
    assert s.import_filesystem is True and s.key_prefix == "acme-odoo-test"
    assert s.sentinel_nodes == [("s1", 26379), ("s2", 26380)]


@pytest.mark.parametrize("environ,variable", [
    ({"ODOO_SESSION_REDIS_CONNECT_TIMEOUT": "0"}, "ODOO_SESSION_REDIS_CONNECT_TIMEOUT"),
    ({"ODOO_SESSION_REDIS_TIMEOUT": "fast"}, "ODOO_SESSION_REDIS_TIMEOUT"),
    ({"ODOO_SESSION_REDIS_RETRIES": "-1"}, "ODOO_SESSION_REDIS_RETRIES"),
    ({"ODOO_SESSION_REDIS_RETRIES": "100"}, "ODOO_SESSION_REDIS_RETRIES"),
    ({"ODOO_SESSION_REDIS_REFRESH_INTERVAL": "0"}, "ODOO_SESSION_REDIS_REFRESH_INTERVAL"),
    ({"ODOO_SESSION_REDIS_IMPORT_FILESYSTEM": "please"}, "ODOO_SESSION_REDIS_IMPORT_FILESYSTEM"),
    ({"ODOO_SESSION_REDIS_PREFIX": "bad prefix*"}, "ODOO_SESSION_REDIS_PREFIX"),
    ({"ODOO_SESSION_REDIS_SENTINEL_HOST": "s1:notaport", "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME": "m"},
     "ODOO_SESSION_REDIS_SENTINEL_HOST"),
    ({"ODOO_SESSION_REDIS_SENTINEL_HOST": "s1"}, "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME"),
    ({"ODOO_SESSION_REDIS_URL": "unix://relative.sock"}, "ODOO_SESSION_REDIS_URL"),
    ({"ODOO_SESSION_REDIS_URL": "unix:///"}, "ODOO_SESSION_REDIS_URL"),
    ({"ODOO_SESSION_REDIS_URL": "http://h:1/0"}, "ODOO_SESSION_REDIS_URL"),
    ({"ODOO_SESSION_REDIS_URL": "redis://h:1/0", "ODOO_SESSION_REDIS_SENTINEL_HOST": "s1",
      "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME": "m"}, "ODOO_SESSION_REDIS_SENTINEL_HOST"),
])
def test_bad_values_name_their_variable(environ, variable):
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    assert info.value.variables == [variable]


def test_url_credentials_never_show_in_display_or_client_repr():
    secret = "pa55-w0rd_secret"
    s = load_settings({"ODOO_SESSION_REDIS_URL": f"rediss://user:{secret}@redis.example.com:6380/3",
                       "ODOO_SESSION_REDIS_SENTINEL_PASSWORD": secret}).sessions
    client = build_client(s)
    try:
        for shown in (s.display_url, repr(s), repr(client), repr(client.connection_pool)):
            assert secret not in shown
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["db"] == 3
        assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (1.0, 2.0)
    finally:
        client.close()


def test_refresh_interval_defaults_to_a_tenth_of_the_ttl_capped_at_an_hour():
    from odoo_cloud.sessions import ExpiryPolicy

    policy = ExpiryPolicy(7 * 24 * 3600, 3 * 3600)
    assert policy.refresh_after("a") == 3600 and policy.refresh_after("n") == 1080
    assert ExpiryPolicy(1000, 50, refresh_interval=120).refresh_after("a") == 120
    assert ExpiryPolicy(1000, 50, refresh_interval=120).refresh_after("n") == 49  # never >= the TTL
    assert ExpiryPolicy.kind_of({"uid": 2}) == "a"
    assert ExpiryPolicy.kind_of({"uid": None, "pre_uid": 2}) == "n"  # 2FA not passed yet: anonymous TTL
