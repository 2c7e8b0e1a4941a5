"""What each running environment (prod, integration, test, dev) requires.

One function, `check_environment`, turns (running environment, environment
variables, attachment location) into the complete list of problems. Odoo's
`cloud.platform` (refusal at registry load, `install()`), `odoo-cloud check`
and the tests all call it, so a pre-flight check in a deploy pipeline can never
disagree with what Odoo will do at start-up.

Naming convention: every bucket, container and Redis key prefix is
`<project>-odoo-<env>`, matched as a whole name (`acme-odoo-prod-old` is not a
prod name). `<project>` is either given by `ODOO_CLOUD_PLATFORM_PROJECT`, or
derived from the names themselves; derived projects must agree between the
bucket/container and the Redis prefix, so a copy-paste from another project
is caught even without the explicit variable.

`*_UNSTRUCTURED` variables bypass the `<project>-odoo-<env>` structure of one
name, but never the prod guard: a non-prod environment pointing at a name
ending in `-odoo-prod` is always refused (only `ODOO_CLOUD_PLATFORM_UNSAFE`
goes past that), because writing to or expiring prod data from a copy is the
accident these checks exist for.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Optional

from .config import ConfigError, EnvReader, Problem, Settings, load_settings
from .config.odoo_options import DATA_DIR_VARIABLE, SECRET_OPTION_VARIABLES
from .config.platform import DEFAULT_SOURCE, PROJECT_PATTERN, resolve_running_env
from .storage import backends
from .storage.uri import bucket_for_db

PROD = "prod"
INTEGRATION = "integration"
TEST = "test"
DEV = "dev"
KNOWN_ENVIRONMENTS = (PROD, INTEGRATION, TEST, DEV)
#: what OCA server_environment runs as when neither `running_env`, RUNNING_ENV nor ODOO_STAGE is set
DEFAULT_RUNNING_ENV = TEST
OBJECT_STORAGE_ENVIRONMENTS = (PROD, INTEGRATION)
REDIS_ENVIRONMENTS = (PROD, INTEGRATION, TEST)
#: the system parameter install() sets; problems about it do not block a database from loading
LOCATION_PARAMETER = "ir_attachment.location"
TEST_MAX_SESSION_EXPIRATION = 86400
EXAMPLE_PROJECT = "acme"
DB_PLACEHOLDER = "{db}"

UNSET = "<unset>"


def _found(value: Optional[str]) -> str:
    return UNSET if value is None else repr(value)


def _problem(variable: str, value: Optional[str], expected: str) -> Problem:
    return Problem(variable, _found(value), expected)


# ---------------------------------------------------------------- names
@dataclass(frozen=True)
class _Name:
    """A bucket, container or Redis prefix that the environment constrains."""

    variable: str
    value: str
    unstructured_variable: str
    unstructured: bool

    @property
    def unresolved(self) -> bool:
        return DB_PLACEHOLDER in self.value


def is_prod_name(name: str) -> bool:
    """True for a whole name `<something>-odoo-prod` (not `...-odoo-prod-old`)."""
    return re.fullmatch(r".+-odoo-prod", name) is not None


def project_of(name: str, running_env: str) -> Optional[str]:
    """The `<project>` of a whole name `<project>-odoo-<running_env>`, or None.

    A `{db}` placeholder still in the name counts as part of the project.
    """
    match = re.fullmatch(rf"(.+)-odoo-{re.escape(running_env)}", name)
    if match is None:
        return None
    project = match.group(1)
    if re.fullmatch(PROJECT_PATTERN, project.replace(DB_PLACEHOLDER, "db")) is None:
        return None
    return project


def guess_project(name: str) -> Optional[str]:
    """`acme` from `acme-odoo-integration`: makes the example in a problem concrete."""
    match = re.fullmatch(r"(.+)-odoo-[a-z0-9_-]+", name)
    return match.group(1) if match and re.fullmatch(PROJECT_PATTERN, match.group(1)) else None


def expected_name(running_env: str, project: Optional[str]) -> str:
    example = f"{project or EXAMPLE_PROJECT}-odoo-{running_env}"
    return f"'<project>-odoo-{running_env}' as a whole name, e.g. {example!r}"


# ---------------------------------------------------------------- report
@dataclass(frozen=True)
class Report:
    """Outcome of the checks; `problems` is empty when everything is right."""

    running_env: str
    settings: Settings
    problems: tuple[Problem, ...]
    #: 's3' or 'swift' when one object store is configured (or chosen), else None
    store: Optional[str] = None
    #: what `ir_attachment.location` must be: 's3'/'swift' (prod, integration), 'db' (test),
    #: None (dev: left unchanged)
    expected_location: Optional[str] = None
    project: Optional[str] = None
    notes: tuple[str, ...] = field(default=())
    #: where `running_env` came from: the caller's label, RUNNING_ENV, ODOO_STAGE or "default"
    running_env_source: str = "RUNNING_ENV"

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def location_problems(self) -> tuple[Problem, ...]:
        """Problems install() fixes; they must not keep a database from loading."""
        return tuple(p for p in self.problems if p.variable == LOCATION_PARAMETER)

    @property
    def blocking_problems(self) -> tuple[Problem, ...]:
        """Problems only a deployment change fixes: the database refuses to load."""
        return tuple(p for p in self.problems if p.variable != LOCATION_PARAMETER)

    def error(self, problems: Optional[Iterable[Problem]] = None) -> EnvironmentCheckError:
        return EnvironmentCheckError(self.running_env, list(self.problems if problems is None else problems))


class EnvironmentCheckError(ConfigError):
    """Every problem of one running environment, in one message."""

    def __init__(self, running_env: str, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.running_env = running_env

    def __str__(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return (f"cloud platform checks failed for running_env {self.running_env!r}, "
                f"{len(self.problems)} problem(s):\n{lines}")


# ---------------------------------------------------------------- context for the rules
@dataclass
class _Context:
    running_env: str
    settings: Settings
    env: EnvReader  # raw access, e.g. "was this set at all?"
    location: Optional[str]
    dbname: Optional[str]
    store: Optional[str] = None
    project: Optional[str] = None

    def name(self, value: str) -> str:
        """`{db}` replaced as the stores do; kept when no database is known (e.g. the CLI)."""
        return bucket_for_db(value, self.dbname) if self.dbname else value

    def names(self) -> list[_Name]:
        s = self.settings
        found = []
        for backend in backends.configured(s):
            found.append(_Name(backend.bucket_variable.name, self.name(backend.bucket_template(s) or ""),
                               backend.unstructured_variable.name, backend.unstructured(s)))
        if s.sessions.prefix:
            found.append(_Name("ODOO_SESSION_REDIS_PREFIX", s.sessions.prefix,
                               "ODOO_SESSION_REDIS_PREFIX_UNSTRUCTURED",
                               s.platform.redis_prefix_unstructured))
        return found

    def expected_name(self) -> str:
        return expected_name(self.running_env, self.project or self.settings.platform.project)


Rule = Callable[[_Context], Iterable[Problem]]


# ---------------------------------------------------------------- store choice
def select_store(settings: Settings) -> tuple[Optional[str], list[Problem]]:
    """Which object store the variables designate: 's3', 'swift' or None.

    Both configured is ambiguous (which one gets new attachments?) unless
    ODOO_CLOUD_PLATFORM_STORAGE says which.
    """
    choice = settings.platform.storage
    if choice is not None:
        chosen = backends.get(choice)
        if not chosen.configured(settings):
            expected = f"a {chosen.bucket_word} name: ODOO_CLOUD_PLATFORM_STORAGE is {choice!r}"
            return choice, [_problem(chosen.bucket_variable.name, None, expected)]
        return choice, []
    found = backends.configured(settings)
    if len(found) > 1:
        return None, [_problem("ODOO_CLOUD_PLATFORM_STORAGE", None,
                               " or ".join(repr(b.scheme) for b in found) + ": both "
                               + " and ".join(b.bucket_variable.name for b in found) + " are set")]
    return (found[0].scheme, []) if found else (None, [])


# ---------------------------------------------------------------- rules
def _rule_names(ctx: _Context) -> Iterable[Problem]:
    """Whole-name `<project>-odoo-<env>`, the prod guard, and one project for all names."""
    env = ctx.running_env
    explicit = ctx.settings.platform.project
    agreeing: list[tuple[_Name, str]] = []
    for name in ctx.names():
        example = explicit or guess_project(name.value)
        if env != PROD and is_prod_name(name.value):
            yield _problem(name.variable, name.value,
                           f"{expected_name(env, example)}: {env} must never use a prod name "
                           f"(only ODOO_CLOUD_PLATFORM_UNSAFE=1 bypasses this)")
            continue
        if env == DEV or name.unstructured:
            continue
        project = project_of(name.value, env)
        if project is None:
            yield _problem(name.variable, name.value,
                           f"{expected_name(env, example)} (or set {name.unstructured_variable}=1 "
                           f"to bypass the naming rule)")
            continue
        if not name.unresolved:
            agreeing.append((name, project))
    if explicit:
        for name, project in agreeing:
            if project != explicit:
                yield _problem(name.variable, name.value,
                               f"'{explicit}-odoo-{env}': ODOO_CLOUD_PLATFORM_PROJECT is {explicit!r}")
        ctx.project = explicit
        return
    if agreeing:
        first, reference = agreeing[0]
        ctx.project = reference
        for name, project in agreeing[1:]:
            if project != reference:
                yield _problem(name.variable, name.value,
                               f"'{reference}-odoo-{env}': the same <project> as "
                               f"{first.variable}={first.value!r} (or name the project with "
                               f"ODOO_CLOUD_PLATFORM_PROJECT)")


def _rule_object_storage(ctx: _Context) -> Iterable[Problem]:
    """prod and integration keep attachments in an object store, read-write."""
    env, s = ctx.running_env, ctx.settings
    if s.storage.disabled:
        yield _problem("DISABLE_ATTACHMENT_STORAGE", ctx.env.raw("DISABLE_ATTACHMENT_STORAGE"),
                       f"off (or unset): {env} keeps attachments in object storage")
    store, problems = select_store(s)
    ctx.store = store
    yield from problems
    if store is None and not problems:
        first, *others = backends.all_backends()
        yield _problem(first.bucket_variable.name, None,
                       f"{ctx.expected_name()} (or "
                       + ", ".join(f"{b.bucket_variable.name} for {b.label}" for b in others) + "): "
                       f"{env} keeps attachments in object storage")
    if not store:
        return
    chosen = backends.get(store)
    for variable in chosen.required_in_production:
        if not ctx.env.is_set(variable):
            yield _problem(variable.name, None, f"set: {chosen.label} is the object store of {env}")
    for one, other in chosen.variables_set_together:
        if ctx.env.is_set(one) and not ctx.env.is_set(other):
            yield _problem(other.name, None, f"set, since {one.name} is set")
        if ctx.env.is_set(other) and not ctx.env.is_set(one):
            yield _problem(one.name, None, f"set, since {other.name} is set")


def _rule_redis(ctx: _Context) -> Iterable[Problem]:
    """prod, integration and test keep sessions in Redis under their own prefix."""
    env, sessions = ctx.running_env, ctx.settings.sessions
    if not sessions.enabled:
        yield _problem("ODOO_SESSION_REDIS", ctx.env.raw("ODOO_SESSION_REDIS"),
                       f"on (1/true/yes/on): {env} keeps sessions in Redis")
    if not any(ctx.env.is_set(v) for v in ("ODOO_SESSION_REDIS_HOST", "ODOO_SESSION_REDIS_URL",
                                           "ODOO_SESSION_REDIS_SENTINEL_HOST")):
        yield _problem("ODOO_SESSION_REDIS_HOST", None,
                       "a Redis host (or ODOO_SESSION_REDIS_URL, or ODOO_SESSION_REDIS_SENTINEL_HOST)")
    if not sessions.prefix:
        yield _problem("ODOO_SESSION_REDIS_PREFIX", None, ctx.expected_name())


def _rule_test_sessions(ctx: _Context) -> Iterable[Problem]:
    """Sessions of a test instance live at most a day."""
    expiration = ctx.settings.sessions.expiration
    if expiration is None or expiration > TEST_MAX_SESSION_EXPIRATION:
        yield _problem("ODOO_SESSION_REDIS_EXPIRATION", ctx.env.raw("ODOO_SESSION_REDIS_EXPIRATION"),
                       f"at most {TEST_MAX_SESSION_EXPIRATION} seconds (one day) in test")


def _rule_json_logs(ctx: _Context) -> Iterable[Problem]:
    if not ctx.settings.logging.json:
        yield _problem("ODOO_LOGGING_JSON", ctx.env.raw("ODOO_LOGGING_JSON"),
                       f"on (1/true/yes/on): {ctx.running_env} logs JSON lines")


def _rule_statsd_on(ctx: _Context) -> Iterable[Problem]:
    if not ctx.settings.statsd.enabled:
        yield _problem("ODOO_STATSD", ctx.env.raw("ODOO_STATSD"),
                       f"on (1/true/yes/on): {ctx.running_env} sends statsd metrics")


def _rule_statsd_environment(ctx: _Context) -> Iterable[Problem]:
    """Metrics of a copy must not land in prod's series (and vice versa)."""
    env, value = ctx.running_env, ctx.settings.statsd.environment
    if value is None:
        return
    if env == DEV:
        if value == PROD:
            yield _problem("STATSD_ENVIRONMENT", value, "anything but 'prod' in dev (or unset: 'dev')")
    elif value != env:
        yield _problem("STATSD_ENVIRONMENT", value, f"{env!r} (or unset, which defaults to the running env)")


def _rule_location(ctx: _Context) -> Iterable[Problem]:
    expected = _expected_location(ctx.running_env, ctx.store)
    if ctx.location is None or expected is None or ctx.location == expected:
        return
    yield _problem(LOCATION_PARAMETER, ctx.location,
                   f"{expected!r} in {ctx.running_env}: run cloud.platform install() to set it "
                   f"and migrate the attachments")


def _expected_location(running_env: str, store: Optional[str]) -> Optional[str]:
    if running_env in OBJECT_STORAGE_ENVIRONMENTS:
        return store
    if running_env == TEST:
        return "db"
    return None


RULES: dict[str, tuple[Rule, ...]] = {
    PROD: (_rule_names, _rule_object_storage, _rule_redis, _rule_json_logs, _rule_statsd_on,
           _rule_statsd_environment, _rule_location),
    INTEGRATION: (_rule_names, _rule_object_storage, _rule_redis, _rule_json_logs,
                  _rule_statsd_environment, _rule_location),
    TEST: (_rule_names, _rule_redis, _rule_test_sessions, _rule_statsd_environment, _rule_location),
    DEV: (_rule_names, _rule_statsd_environment),
}


# ---------------------------------------------------------------- Odoo's own options
def odoo_option_notes(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """What `check` says about Odoo 19's ``ODOO_<OPTION>`` variables it meets (never their secrets).

    Bad values of the ones that matter to us (ODOO_DATA_DIR, ODOO_WORKERS) are problems of
    `odoo_cloud.config.odoo_options`; here: which ones Odoo 19 will take as configuration, the data_dir
    it will use, and server-wide modules that leave out an addon our variables switch on.
    """
    options = settings.odoo_options
    if not options.present:
        return []
    shown = [name if name in SECRET_OPTION_VARIABLES else f"{name}={environ[name]!r}"
             for name in options.present]
    notes = ["Odoo 19 reads these variables as its own options (Odoo 18 ignores them, except ODOO_RC and "
             "libpq's PG*): " + ", ".join(shown)]
    if DATA_DIR_VARIABLE in options.present:
        notes.append(f"data_dir of Odoo 19 and of odoo-cloud migrate: {options.data_dir}")
    if options.server_wide_modules is not None:
        wanted = [addon for addon, on in (("session_redis", settings.sessions.enabled),
                                          ("logging_json", settings.logging.json),
                                          ("monitoring_statsd", settings.statsd.enabled)) if on]
        missing = [addon for addon in wanted if addon not in options.server_wide_modules]
        if missing:
            notes.append(f"ODOO_SERVER_WIDE_MODULES lacks {', '.join(missing)}: on Odoo 19 they stay "
                         "inactive unless the command line gives --load with them")
    return notes


# ---------------------------------------------------------------- entry point
def read_settings(environ: Mapping[str, str]) -> tuple[Settings, list[Problem]]:
    """Settings plus the format problems, without raising.

    Rules still need values when some variable is malformed (a bad port must
    not hide a prod bucket in integration), so on a ConfigError the sections
    are read again leniently: a bad value falls back to its default there.
    """
    try:
        return load_settings(environ), []
    except ConfigError as error:
        reader = EnvReader(environ)
        sections = {f.name: importlib.import_module(f"{__package__}.config.{f.name}").read(reader)
                    for f in fields(Settings)}
        return Settings(**sections), list(error.problems)


def check_environment(running_env: Optional[str], environ: Mapping[str, str],
                      location: Optional[str] = None, dbname: Optional[str] = None,
                      running_env_variable: str = "RUNNING_ENV") -> Report:
    """Every problem of `environ` for `running_env`.

    `running_env` None: resolved from `environ` exactly like server_environment does
    (`odoo_cloud.config.platform.resolve_running_env`).
    `location`: the current `ir_attachment.location` (None: unknown, not checked).
    `dbname`: replaces `{db}` in bucket/container names (None: `{db}` is kept and
    only the `-odoo-<env>` ending of such a name is checked).
    """
    settings, problems = read_settings(environ)
    notes: list[str] = odoo_option_notes(settings, environ)
    if running_env is None:
        resolved = resolve_running_env(environ)
        running_env, running_env_variable = resolved.value, resolved.source
        if resolved.note:
            notes.append(resolved.note)
        elif resolved.source == DEFAULT_SOURCE:
            notes.append(f"RUNNING_ENV and ODOO_STAGE unset: checking as {DEFAULT_RUNNING_ENV!r}, "
                         "the default of server_environment")
    rules = RULES.get(running_env)
    if rules is None:
        problems.append(_problem(running_env_variable, running_env,
                                 "one of " + ", ".join(KNOWN_ENVIRONMENTS)
                                 + " (the exact names of OCA server_environment)"))
        return Report(running_env, settings, tuple(problems), notes=tuple(notes),
                      running_env_source=running_env_variable)
    ctx = _Context(running_env, settings, EnvReader(environ), location, dbname)
    if running_env not in OBJECT_STORAGE_ENVIRONMENTS:
        # test and dev write no object: an ambiguous store choice is install()'s concern there
        ctx.store = select_store(settings)[0]
    already = {p.variable for p in problems}
    for rule in rules:
        problems.extend(p for p in rule(ctx) if p.variable not in already)
    if settings.platform.unsafe:
        notes.append("ODOO_CLOUD_PLATFORM_UNSAFE is on: Odoo starts even with these problems")
    return Report(running_env, settings, tuple(problems), store=ctx.store,
                  running_env_source=running_env_variable,
                  expected_location=_expected_location(running_env, ctx.store),
                  project=ctx.project, notes=tuple(notes))
