"""Rules per running environment: every environment x every variable, table-driven."""
import pytest

from odoo_cloud.config import load_settings
from odoo_cloud.environments import (
    KNOWN_ENVIRONMENTS,
    LOCATION_PARAMETER,
    EnvironmentCheckError,
    check_environment,
    is_prod_name,
    project_of,
    select_store,
)

REDIS = {"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_HOST": "redis.internal"}
GOOD = {
    "prod": {**REDIS, "AWS_BUCKETNAME": "acme-odoo-prod", "ODOO_SESSION_REDIS_PREFIX": "acme-odoo-prod",
             "ODOO_LOGGING_JSON": "1", "ODOO_STATSD": "1", "STATSD_CUSTOMER": "acme"},
    "integration": {**REDIS, "AWS_BUCKETNAME": "acme-odoo-integration",
                    "ODOO_SESSION_REDIS_PREFIX": "acme-odoo-integration", "ODOO_LOGGING_JSON": "1"},
    "test": {**REDIS, "ODOO_SESSION_REDIS_PREFIX": "acme-odoo-test",
             "ODOO_SESSION_REDIS_EXPIRATION": "86400"},
    "dev": {},
}
LOCATION = {"prod": "s3", "integration": "s3", "test": "db", "dev": "file"}
SWIFT = {"SWIFT_AUTH_URL": "https://swift.example.com/auth/v1.0", "SWIFT_ACCOUNT": "acme",
         "SWIFT_PASSWORD": "pw-secret-1"}


def check(env, environ, **kw):
    return check_environment(env, environ, **kw)


def variables(report):
    return [p.variable for p in report.problems]


def one_problem(report, variable):
    found = [p for p in report.problems if p.variable == variable]
    assert len(found) == 1, report.problems
    return found[0]


# ---------------------------------------------------------------- the good case
@pytest.mark.parametrize("env", KNOWN_ENVIRONMENTS)
def test_a_well_configured_environment_has_no_problem(env):
    report = check(env, GOOD[env], location=LOCATION[env])
    assert report.problems == ()
    assert report.ok
    assert report.running_env == env


@pytest.mark.parametrize("env,expected", [("prod", "s3"), ("integration", "s3"), ("test", "db"),
                                          ("dev", None)])
def test_expected_location_per_environment(env, expected):
    assert check(env, GOOD[env]).expected_location == expected


# ---------------------------------------------------------------- missing variables
MISSING = [
    # env, variable removed, variable the problem names, words of the expectation
    ("prod", "AWS_BUCKETNAME", "AWS_BUCKETNAME", "'<project>-odoo-prod'"),
    ("prod", "ODOO_SESSION_REDIS", "ODOO_SESSION_REDIS", "prod keeps sessions in Redis"),
    ("prod", "ODOO_SESSION_REDIS_HOST", "ODOO_SESSION_REDIS_HOST", "ODOO_SESSION_REDIS_URL"),
    ("prod", "ODOO_SESSION_REDIS_PREFIX", "ODOO_SESSION_REDIS_PREFIX", "'acme-odoo-prod'"),
    ("prod", "ODOO_LOGGING_JSON", "ODOO_LOGGING_JSON", "prod logs JSON"),
    ("prod", "ODOO_STATSD", "ODOO_STATSD", "statsd"),
    ("prod", "STATSD_CUSTOMER", "STATSD_CUSTOMER", "required when ODOO_STATSD is on"),
    ("integration", "AWS_BUCKETNAME", "AWS_BUCKETNAME", "'<project>-odoo-integration'"),
    ("integration", "ODOO_SESSION_REDIS", "ODOO_SESSION_REDIS", "integration keeps sessions in Redis"),
    ("integration", "ODOO_SESSION_REDIS_HOST", "ODOO_SESSION_REDIS_HOST", "a Redis host"),
    ("integration", "ODOO_SESSION_REDIS_PREFIX", "ODOO_SESSION_REDIS_PREFIX", "'acme-odoo-integration'"),
    ("integration", "ODOO_LOGGING_JSON", "ODOO_LOGGING_JSON", "integration logs JSON"),
    ("test", "ODOO_SESSION_REDIS", "ODOO_SESSION_REDIS", "test keeps sessions in Redis"),
    ("test", "ODOO_SESSION_REDIS_HOST", "ODOO_SESSION_REDIS_HOST", "a Redis host"),
    ("test", "ODOO_SESSION_REDIS_PREFIX", "ODOO_SESSION_REDIS_PREFIX", "'<project>-odoo-test'"),
    ("test", "ODOO_SESSION_REDIS_EXPIRATION", "ODOO_SESSION_REDIS_EXPIRATION", "at most 86400"),
]


@pytest.mark.parametrize("env,removed,variable,words", MISSING)
def test_a_missing_variable_is_one_problem_naming_it(env, removed, variable, words):
    environ = {k: v for k, v in GOOD[env].items() if k != removed}
    report = check(env, environ)
    assert variables(report) == [variable]
    problem = report.problems[0]
    assert problem.found == "<unset>"
    assert words in problem.expected


def test_every_environment_has_a_missing_variable_case_except_dev():
    assert {env for env, *_ in MISSING} == set(KNOWN_ENVIRONMENTS) - {"dev"}
    # and dev requires nothing at all
    assert check("dev", {}).problems == ()


@pytest.mark.parametrize("env", ["prod", "integration", "test"])
def test_other_redis_connections_satisfy_the_host_requirement(env):
    base = {k: v for k, v in GOOD[env].items() if k != "ODOO_SESSION_REDIS_HOST"}
    for extra in ({"ODOO_SESSION_REDIS_URL": "redis://r:6379/0"},
                  {"ODOO_SESSION_REDIS_SENTINEL_HOST": "sentinel",
                   "ODOO_SESSION_REDIS_SENTINEL_MASTER_NAME": "m"}):
        assert check(env, {**base, **extra}).problems == ()


def test_an_empty_prod_lists_every_problem_at_once():
    report = check("prod", {})
    assert variables(report) == ["AWS_BUCKETNAME", "ODOO_SESSION_REDIS", "ODOO_SESSION_REDIS_HOST",
                                 "ODOO_SESSION_REDIS_PREFIX", "ODOO_LOGGING_JSON", "ODOO_STATSD"]
    with pytest.raises(EnvironmentCheckError) as info:
        raise report.error()
    text = str(info.value)
    assert "running_env 'prod'" in text and "6 problem(s)" in text
    for variable in variables(report):
        assert variable in text


# ---------------------------------------------------------------- wrong formats
WRONG_FORMAT = [
    ("ODOO_SESSION_REDIS", "maybe"),
    ("ODOO_SESSION_REDIS_PORT", "70000"),
    ("ODOO_SESSION_REDIS_EXPIRATION", "1h"),
    ("ODOO_SESSION_REDIS_URL", "http://redis:6379"),
    ("ODOO_LOGGING_JSON", "yess"),
    ("ODOO_STATSD", "2"),
    ("STATSD_PORT", "abc"),
    ("DISABLE_ATTACHMENT_STORAGE", "nope"),
    ("AWS_BUCKETNAME_UNSTRUCTURED", "sure"),
    ("SWIFT_WRITE_CONTAINER_UNSTRUCTURED", "y"),
    ("ODOO_SESSION_REDIS_PREFIX_UNSTRUCTURED", "enabled"),
    ("ODOO_CLOUD_PLATFORM_UNSAFE", "please"),
    ("ODOO_CLOUD_PLATFORM_STORAGE", "ftp"),
    ("ODOO_CLOUD_PLATFORM_PROJECT", "Acme Corp"),
    ("SWIFT_AUTH_URL", "keystone/v3"),
]


@pytest.mark.parametrize("env", KNOWN_ENVIRONMENTS)
@pytest.mark.parametrize("variable,value", WRONG_FORMAT)
def test_a_malformed_variable_is_reported_once_in_every_environment(env, variable, value):
    report = check(env, {**GOOD[env], variable: value})
    problem = one_problem(report, variable)
    assert problem.found == repr(value)
    # a rule about the same variable is not reported a second time, and nothing unrelated shows up
    assert variables(report) == [variable]


@pytest.mark.parametrize("word", ["1", "true", "YES", "On"])
def test_strict_booleans_accept_every_true_word(word):
    environ = {**GOOD["prod"], "ODOO_SESSION_REDIS": word, "ODOO_LOGGING_JSON": word, "ODOO_STATSD": word}
    assert check("prod", environ).problems == ()


@pytest.mark.parametrize("word", ["0", "false", "No", "OFF"])
def test_strict_booleans_off_words_turn_a_required_feature_off(word):
    report = check("prod", {**GOOD["prod"], "ODOO_LOGGING_JSON": word})
    assert one_problem(report, "ODOO_LOGGING_JSON").found == repr(word)


# ---------------------------------------------------------------- names: whole-name match
NAME_VARIABLES = ["AWS_BUCKETNAME", "SWIFT_WRITE_CONTAINER", "ODOO_SESSION_REDIS_PREFIX"]
UNSTRUCTURED = {"AWS_BUCKETNAME": "AWS_BUCKETNAME_UNSTRUCTURED",
                "SWIFT_WRITE_CONTAINER": "SWIFT_WRITE_CONTAINER_UNSTRUCTURED",
                "ODOO_SESSION_REDIS_PREFIX": "ODOO_SESSION_REDIS_PREFIX_UNSTRUCTURED"}


def with_name(env, variable, value, **extra):
    environ = dict(GOOD[env])
    if variable == "SWIFT_WRITE_CONTAINER":
        environ.pop("AWS_BUCKETNAME", None)
        environ.update(SWIFT)
    environ[variable] = value
    environ.update(extra)
    return environ


@pytest.mark.parametrize("env", ["prod", "integration", "test"])
@pytest.mark.parametrize("variable", NAME_VARIABLES)
@pytest.mark.parametrize("template", ["{p}-odoo-{e}-old", "{p}-odoo-{e}x", "odoo-{e}", "-odoo-{e}",
                                      "{p}-odoo", "{p}_odoo_{e}", "{p}-ODOO-{e}",
                                      "{p}-odoo-{e}/"])
def test_names_must_match_project_odoo_env_as_a_whole(env, variable, template):
    value = template.format(p="acme", e=env)
    report = check(env, with_name(env, variable, value))
    problem = one_problem(report, variable)
    assert problem.found == repr(value)
    # some forms are already refused by the variable's own format (e.g. a Redis prefix with '/')
    if problem.expected.startswith("'<project>-odoo-"):
        assert f"'<project>-odoo-{env}'" in problem.expected
        assert UNSTRUCTURED[variable] in problem.expected
    else:
        assert f"e.g. '{'acme'}-odoo-" in problem.expected


@pytest.mark.parametrize("env", ["prod", "integration", "test"])
@pytest.mark.parametrize("variable", NAME_VARIABLES)
def test_a_name_of_another_environment_is_refused_with_the_right_example(env, variable):
    other = "integration" if env != "integration" else "test"
    report = check(env, with_name(env, variable, f"acme-odoo-{other}"))
    problem = one_problem(report, variable)
    assert f"e.g. 'acme-odoo-{env}'" in problem.expected


@pytest.mark.parametrize("env", ["integration", "test", "dev"])
@pytest.mark.parametrize("variable", NAME_VARIABLES)
@pytest.mark.parametrize("bypass", [False, True])
def test_non_prod_never_points_at_a_prod_name_even_unstructured(env, variable, bypass):
    extra = {UNSTRUCTURED[variable]: "1"} if bypass else {}
    report = check(env, with_name(env, variable, "acme-odoo-prod", **extra))
    problem = one_problem(report, variable)
    assert f"{env} must never use a prod name" in problem.expected
    assert "ODOO_CLOUD_PLATFORM_UNSAFE" in problem.expected


@pytest.mark.parametrize("env", ["integration", "test", "dev"])
def test_names_merely_containing_prod_are_not_prod_names(env):
    environ = with_name(env, "AWS_BUCKETNAME", "acme-odoo-prod-old", AWS_BUCKETNAME_UNSTRUCTURED="1")
    assert "AWS_BUCKETNAME" not in variables(check(env, environ))
    assert not is_prod_name("acme-odoo-prod-old") and not is_prod_name("odoo-prod")
    assert is_prod_name("acme-odoo-prod") and is_prod_name("{db}-odoo-prod")


@pytest.mark.parametrize("env", ["prod", "integration", "test"])
@pytest.mark.parametrize("variable", NAME_VARIABLES)
def test_unstructured_bypasses_the_naming_rule(env, variable):
    assert variable in variables(check(env, with_name(env, variable, "legacy_attachments")))
    report = check(env, with_name(env, variable, "legacy_attachments", **{UNSTRUCTURED[variable]: "true"}))
    assert report.problems == ()


@pytest.mark.parametrize("variable", NAME_VARIABLES)
def test_dev_accepts_any_name_but_prod(variable):
    assert check("dev", with_name("dev", variable, "whatever_I-like")).problems == ()
    assert check("dev", with_name("dev", variable, "acme-odoo-integration")).problems == ()


# ---------------------------------------------------------------- <project>
def test_project_is_derived_from_the_names_and_they_must_agree():
    report = check("prod", {**GOOD["prod"], "ODOO_SESSION_REDIS_PREFIX": "acne-odoo-prod"})
    problem = one_problem(report, "ODOO_SESSION_REDIS_PREFIX")
    assert "'acme-odoo-prod'" in problem.expected and "AWS_BUCKETNAME='acme-odoo-prod'" in problem.expected
    assert check("prod", GOOD["prod"]).project == "acme"


def test_project_can_be_named_explicitly():
    environ = {**GOOD["prod"], "ODOO_CLOUD_PLATFORM_PROJECT": "acme"}
    assert check("prod", environ).problems == ()
    report = check("prod", {**environ, "ODOO_CLOUD_PLATFORM_PROJECT": "globex"})
    assert variables(report) == ["AWS_BUCKETNAME", "ODOO_SESSION_REDIS_PREFIX"]
    assert "'globex-odoo-prod': ODOO_CLOUD_PLATFORM_PROJECT is 'globex'" in report.problems[0].expected
    # and the expectation of a missing name uses it
    report = check("prod", {k: v for k, v in environ.items() if k != "AWS_BUCKETNAME"})
    assert "e.g. 'acme-odoo-prod'" in one_problem(report, "AWS_BUCKETNAME").expected


def test_an_unstructured_name_does_not_take_part_in_the_project_agreement():
    environ = {**GOOD["prod"], "AWS_BUCKETNAME": "globex-odoo-prod", "AWS_BUCKETNAME_UNSTRUCTURED": "1"}
    assert check("prod", environ).problems == ()


@pytest.mark.parametrize("name,env,project", [
    ("acme-odoo-prod", "prod", "acme"), ("acme-shop-odoo-prod", "prod", "acme-shop"),
    ("acme-odoo-odoo-prod", "prod", "acme-odoo"), ("{db}-odoo-prod", "prod", "{db}"),
    ("acme-odoo-prod", "integration", None), ("Acme-odoo-prod", "prod", None),
    ("acme--odoo-prod", "prod", None),
])
def test_project_of(name, env, project):
    assert project_of(name, env) == project


# ---------------------------------------------------------------- {db} in bucket/container names
def test_db_placeholder_is_resolved_with_the_database_name():
    environ = {**GOOD["prod"], "AWS_BUCKETNAME": "{db}-odoo-prod"}
    assert check("prod", environ, dbname="acme").problems == ()
    report = check("prod", environ, dbname="globex")  # globex's bucket, acme's Redis prefix
    assert "'globex-odoo-prod'" in one_problem(report, "ODOO_SESSION_REDIS_PREFIX").expected
    # without a database name only the '-odoo-prod' ending can be checked
    assert check("prod", environ).problems == ()
    integration = {**GOOD["integration"], "AWS_BUCKETNAME": "{db}-odoo-prod"}
    assert "AWS_BUCKETNAME" in variables(check("integration", integration))


# ---------------------------------------------------------------- object stores
def test_swift_instead_of_s3():
    environ = {k: v for k, v in GOOD["prod"].items() if k != "AWS_BUCKETNAME"}
    environ.update(SWIFT, SWIFT_WRITE_CONTAINER="acme-odoo-prod")
    report = check("prod", environ, location="swift")
    assert report.problems == () and report.store == "swift" and report.expected_location == "swift"
    for variable in ("SWIFT_AUTH_URL", "SWIFT_ACCOUNT", "SWIFT_PASSWORD"):
        missing = {k: v for k, v in environ.items() if k != variable}
        assert variables(check("prod", missing)) == [variable]


@pytest.mark.parametrize("env", ["prod", "integration"])
def test_both_stores_need_a_choice(env):
    environ = {**GOOD[env], **SWIFT, "SWIFT_WRITE_CONTAINER": f"acme-odoo-{env}"}
    report = check(env, environ)
    assert variables(report) == ["ODOO_CLOUD_PLATFORM_STORAGE"]
    assert "both AWS_BUCKETNAME and SWIFT_WRITE_CONTAINER are set" in report.problems[0].expected
    for choice in ("s3", "swift", "SWIFT"):
        report = check(env, {**environ, "ODOO_CLOUD_PLATFORM_STORAGE": choice})
        assert report.problems == () and report.store == choice.lower()


def test_a_chosen_store_must_be_configured():
    report = check("prod", {**GOOD["prod"], **SWIFT, "ODOO_CLOUD_PLATFORM_STORAGE": "swift"})
    assert variables(report) == ["SWIFT_WRITE_CONTAINER"]
    assert "ODOO_CLOUD_PLATFORM_STORAGE is 'swift'" in report.problems[0].expected
    store, problems = select_store(load_settings({"ODOO_CLOUD_PLATFORM_STORAGE": "s3"}))
    assert store == "s3" and [p.variable for p in problems] == ["AWS_BUCKETNAME"]


@pytest.mark.parametrize("present,missing", [("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                                             ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")])
def test_s3_keys_come_in_pairs(present, missing):
    report = check("prod", {**GOOD["prod"], present: "x"})
    assert variables(report) == [missing]
    both = {**GOOD["prod"], "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    assert check("prod", both).problems == ()


@pytest.mark.parametrize("env", ["prod", "integration"])
def test_attachment_storage_cannot_be_disabled_where_it_is_required(env):
    report = check(env, {**GOOD[env], "DISABLE_ATTACHMENT_STORAGE": "1"})
    assert variables(report) == ["DISABLE_ATTACHMENT_STORAGE"]
    assert check("test", {**GOOD["test"], "DISABLE_ATTACHMENT_STORAGE": "1"}).problems == ()


# ---------------------------------------------------------------- location, sessions, metrics
@pytest.mark.parametrize("env,location", [("prod", "file"), ("prod", "db"), ("prod", "swift"),
                                          ("integration", "file"), ("test", "s3"), ("test", "file")])
def test_a_wrong_location_is_reported_but_does_not_block_loading(env, location):
    report = check(env, GOOD[env], location=location)
    problem = one_problem(report, LOCATION_PARAMETER)
    assert problem.found == repr(location) and "install()" in problem.expected
    assert report.blocking_problems == () and report.location_problems == (problem,)


def test_dev_leaves_the_location_alone():
    for location in ("file", "db", "s3"):
        assert check("dev", {}, location=location).problems == ()


def test_test_sessions_last_at_most_a_day():
    assert check("test", {**GOOD["test"], "ODOO_SESSION_REDIS_EXPIRATION": "3600"}).problems == ()
    report = check("test", {**GOOD["test"], "ODOO_SESSION_REDIS_EXPIRATION": "86401"})
    assert one_problem(report, "ODOO_SESSION_REDIS_EXPIRATION").found == "'86401'"


@pytest.mark.parametrize("env,value,ok", [
    ("prod", "prod", True), ("prod", "integration", False), ("integration", "prod", False),
    ("test", "test", True), ("dev", "prod", False), ("dev", "laptop", True),
])
def test_statsd_environment_matches_the_running_env(env, value, ok):
    report = check(env, {**GOOD[env], "STATSD_ENVIRONMENT": value})
    assert (report.problems == ()) is ok, report.problems


# ---------------------------------------------------------------- the running environment itself
@pytest.mark.parametrize("name", ["production", "Prod", "staging", "labs", "preprod", ""])
def test_unknown_environment_names_are_reported(name):
    report = check(name, GOOD["prod"])
    problem = one_problem(report, "RUNNING_ENV")
    assert problem.found == repr(name)
    assert "one of prod, integration, test, dev" in problem.expected


@pytest.mark.parametrize("environ,env,variable", [
    ({"RUNNING_ENV": "integration"}, "integration", "RUNNING_ENV"),
    ({"ODOO_STAGE": "dev"}, "dev", "ODOO_STAGE"),
    ({"RUNNING_ENV": "dev", "ODOO_STAGE": "prod"}, "dev", "RUNNING_ENV"),
])
def test_running_env_is_read_like_server_environment(environ, env, variable):
    assert check(None, environ).running_env == env
    bad = {variable: "staging"}
    assert variables(check(None, bad)) == [variable]


def test_without_running_env_the_checks_use_server_environments_default():
    report = check(None, GOOD["test"])
    assert report.running_env == "test" and report.problems == ()
    assert any("default of server_environment" in note for note in report.notes)


def test_the_caller_names_where_an_explicit_running_env_came_from():
    report = check_environment("qa", {}, running_env_variable="--env")
    assert variables(report) == ["--env"]


# ---------------------------------------------------------------- secrets
def test_problems_never_show_secrets():
    secret = "Zx9-very-secret"
    environ = {"SWIFT_PASSWORD": secret, "SWIFT_WRITE_CONTAINER": "acme-odoo-prod",
               "AWS_SECRET_ACCESS_KEY": secret, "AWS_BUCKETNAME": "acme-odoo-prod",
               "ODOO_SESSION_REDIS_URL": f"redis://u:{secret}@redis:6379/0",
               "ODOO_SESSION_REDIS_PASSWORD": secret, "ODOO_SESSION_REDIS_PORT": "bad"}
    for env in (*KNOWN_ENVIRONMENTS, "unknown"):
        report = check(env, environ)
        assert report.problems
        assert secret not in str(report.error()) and secret not in repr(report)
