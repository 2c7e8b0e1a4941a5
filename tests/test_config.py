"""Settings: strict parsing, every problem at once, secrets never shown."""
import pytest

from odoo_cloud.config import ConfigError, Secret, load_settings, mask_url


def problems_of(environ):
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    return info.value


def test_defaults_load_from_an_empty_environment():
    settings = load_settings({})
    assert settings.sessions.enabled is False
    assert settings.sessions.port == 6379
    assert settings.sessions.expiration_anonymous == 3 * 3600
    assert settings.statsd.port == 8125
    assert settings.storage.disabled is False
    assert settings.platform.unsafe is False


@pytest.mark.parametrize("word,expected", [
    ("1", True), ("true", True), ("TRUE", True), ("Yes", True), ("on", True),
    ("0", False), ("false", False), ("No", False), ("OFF", False),
])
def test_strict_booleans_accept_the_documented_words(word, expected):
    assert load_settings({"ODOO_LOGGING_JSON": word}).logging.json is expected


@pytest.mark.parametrize("word", ["maybe", "2", "y", "enabled", "truee"])
def test_any_other_boolean_word_is_an_error_naming_the_variable(word):
    error = problems_of({"DISABLE_ATTACHMENT_STORAGE": word})
    assert error.variables == ["DISABLE_ATTACHMENT_STORAGE"]
    assert "1/true/yes/on or 0/false/no/off" in str(error)


def test_all_problems_are_reported_together():
    error = problems_of({"ODOO_SESSION_REDIS": "maybe", "STATSD_PORT": "abc"})
    assert sorted(error.variables) == ["ODOO_SESSION_REDIS", "STATSD_PORT"]
    text = str(error)
    assert "'maybe'" in text and "'abc'" in text
    assert "port number between 1 and 65535" in text


@pytest.mark.parametrize("name,value", [
    ("ODOO_SESSION_REDIS_PORT", "0"),
    ("ODOO_SESSION_REDIS_PORT", "70000"),
    ("ODOO_SESSION_REDIS_PORT", "12.5"),
    ("ODOO_SESSION_REDIS_EXPIRATION", "-1"),
    ("ODOO_SESSION_REDIS_EXPIRATION", "1h"),
    ("ODOO_SESSION_REDIS_EXPIRATION_ANONYMOUS", "0"),
    ("ODOO_SESSION_REDIS_SENTINEL_PORT", "x"),
    ("STATSD_PORT", "-3"),
    ("SWIFT_AUTH_URL", "keystone.example.com/v3"),
    ("ODOO_SESSION_REDIS_URL", "http://localhost:6379"),
])
def test_invalid_numbers_and_urls_name_their_variable(name, value):
    assert problems_of({name: value}).variables == [name]


def test_statsd_customer_is_required_when_statsd_is_on():
    error = problems_of({"ODOO_STATSD": "1"})
    assert error.variables == ["STATSD_CUSTOMER"]
    assert "required when ODOO_STATSD is on" in str(error)
    assert load_settings({"ODOO_STATSD": "1", "STATSD_CUSTOMER": "acme"}).statsd.customer == "acme"


def test_secrets_never_appear_in_repr_or_str():
    secret = "s3cr3t-Key_With+Chars"
    settings = load_settings({
        "AWS_SECRET_ACCESS_KEY": secret,
        "SWIFT_PASSWORD": secret,
        "ODOO_SESSION_REDIS_PASSWORD": secret,
        "ODOO_SESSION_REDIS_URL": f"rediss://user:{secret}@redis.example.com:6380/2",
    })
    for shown in (repr(settings), str(settings), repr(settings.s3), f"{settings.s3.secret_access_key}",
                  settings.sessions.display_url):
        assert secret not in shown
    assert settings.s3.secret_access_key.reveal() == secret
    assert settings.sessions.display_url == "rediss://user:****@redis.example.com:6380/2"


def test_a_bad_url_with_a_password_is_reported_masked():
    error = problems_of({"ODOO_SESSION_REDIS_URL": "http://u:hunter2@host:1"})
    assert "hunter2" not in str(error)
    assert error.variables == ["ODOO_SESSION_REDIS_URL"]


def test_settings_are_immutable():
    settings = load_settings({})
    with pytest.raises(AttributeError):
        settings.sessions.port = 1  # type: ignore[misc]


def test_secret_and_mask_helpers():
    assert str(Secret("x")) == "****" and not Secret("")
    assert mask_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert mask_url("redis://:pw@h:1") == "redis://:****@h:1"


def test_the_core_never_imports_odoo():
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parent.parent / "odoo_cloud"
    offenders = [
        str(path) for path in root.rglob("*.py")
        if re.search(r"^\s*(import odoo\b|from odoo\b)", path.read_text(), re.M)
    ]
    assert offenders == []
