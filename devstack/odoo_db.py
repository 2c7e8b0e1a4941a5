"""Odoo databases for tests: `base` + `web` initialised once per series, then copied per test.

Initialising a database (`-i base,web`) is the most expensive thing an Odoo test does (15-35 s on our
2-core machines), and most tests only need *a* fresh database to install their addons into. So each
series gets one template database per test session, and every test database is a
`CREATE DATABASE ... TEMPLATE` copy of it (about a second) plus its filestore, with the identity Odoo's
own duplicate resets (`database.uuid`, `database.secret`, `database.create_date`) made new, so two copies
never pass for the same database (ownership records, GC across databases). Installing a test's addons
into the copy is the same code path as installing them into any existing database.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from ._base import announce
from ._process import terminate
from .odoo import bare_environment, database_options, find_venv_odoo, get_series, odoo_command
from .paths import REPO_ROOT

#: what a new database gets anyway: `web` is auto_install on `base`
TEMPLATE_MODULES = ("base", "web")
INIT_TIMEOUT = 900


class OdooDatabaseError(AssertionError):
    """An odoo-bin run that prepares a test database failed (the message holds the end of its output)."""


@dataclass(frozen=True)
class OdooInstall:
    """The Odoo of one series on this machine: where its tree is and which python runs it."""

    series: str
    root: Path
    python: Path

    def command(self) -> list[str]:
        return odoo_command(self.root, self.python)


def odoo_install(series: str) -> tuple[OdooInstall | None, str]:
    """(the Odoo `series` the suite runs — found through its venv —, or None; how or why not)."""
    spec = get_series(series)
    root, how = find_venv_odoo(spec.name)
    if root is None:
        return None, how
    return OdooInstall(spec.name, root, spec.python), how


class OdooDatabases:
    """Per-series template databases on one PostgreSQL, and copies of them for tests.

    `postgres` is anything with host, port, user and dsn(dbname) (a devstack PostgresServer).
    prepare() initialises templates in a background thread, one series after the other, while the
    tests that need no Odoo run (the init is mostly one single-threaded odoo-bin: the second core is
    otherwise idle much of the time); template() waits for it. close() kills an init still running.
    """

    def __init__(self, postgres, workdir: Path):
        self.postgres = postgres
        self.workdir = workdir
        self._lock = threading.Lock()
        self._templates: dict[str, Future[tuple[str, Path, float]]] = {}  # series -> (name, dir, seconds)
        self._background: dict[str, Future[tuple[str, Path, float]]] = {}  # the ones prepare() started
        self._announced: set[str] = set()
        self._running: set[subprocess.Popen] = set()
        self._closed = False

    def prepare(self, installs: Sequence[OdooInstall]) -> None:
        """Initialise the templates of these series in the background (each once, in this order)."""
        with self._lock:
            todo = [odoo for odoo in installs if odoo.series not in self._templates]
            futures = {odoo.series: Future() for odoo in todo}
            self._templates.update(futures)
            self._background.update(futures)

        def work() -> None:
            for odoo in todo:
                self._initialise(odoo, futures[odoo.series])

        if todo:
            threading.Thread(target=work, name="odoo-templates", daemon=True).start()

    def template(self, odoo: OdooInstall) -> tuple[str, Path]:
        """(name, data dir) of the `base` + `web` database of this series, initialised on first use
        (or by prepare(): then this waits for it). A background init that failed (a test stopped the
        PostgreSQL meanwhile...) is done again here, once; a failed foreground one fails every caller."""
        with self._lock:
            future = self._templates.get(odoo.series)
            mine = future is None
            if future is None:
                future = self._templates[odoo.series] = Future()
        if mine:
            self._initialise(odoo, future)
        if future.exception() is not None and self._background.get(odoo.series) is future:
            with self._lock:
                if self._templates[odoo.series] is future:
                    self._templates[odoo.series] = Future()
                    mine = True
                future = self._templates[odoo.series]
            if mine:
                self._initialise(odoo, future)
        name, data_dir, seconds = future.result()
        if odoo.series not in self._announced:
            self._announced.add(odoo.series)
            announce(f"[devstack] odoo {odoo.series} template database {name} (base, web) initialised in "
                     f"{seconds:.1f} s")
        return name, data_dir

    def _initialise(self, odoo: OdooInstall, future: Future[tuple[str, Path, float]]) -> None:
        name = f"tpl_{odoo.series.replace('.', '')}_{uuid.uuid4().hex[:8]}"
        data_dir = self.workdir / name
        started = time.monotonic()
        try:
            self.odoo_bin(odoo, name, data_dir, {}, "-i", ",".join(TEMPLATE_MODULES), "--stop-after-init",
                          *get_series(odoo.series).demo_options(False))
        except BaseException as exc:  # handed to whoever asks for this template
            future.set_exception(exc)
        else:
            future.set_result((name, data_dir, time.monotonic() - started))

    def close(self) -> None:
        """Kill the odoo-bin runs still going (a background init at the end of a short session)."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for proc in running:
            terminate(proc)

    def copy(self, odoo: OdooInstall, data_dir: Path, *, name: str | None = None, prefix: str = "odoo",
             install: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> str:
        """A new database (`name`, else `prefix`_<random>) copied from the series' template, its
        filestore under `data_dir`; `install` addons installed into it (`-i`, no demo data) with
        `environ` as odoo-bin's only variables. Returns the database name."""
        import psycopg2

        template, template_dir = self.template(odoo)
        name = name or f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = psycopg2.connect(self.postgres.dsn("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            conn.close()
        # the identity Odoo's duplicate_database makes new (ir.config_parameter.init(force=True))
        with psycopg2.connect(self.postgres.dsn(name)) as conn, conn.cursor() as cur:
            for key, value in (("database.uuid", str(uuid.uuid1())), ("database.secret", str(uuid.uuid4()))):
                cur.execute("UPDATE ir_config_parameter SET value = %s WHERE key = %s", (value, key))
            cur.execute("UPDATE ir_config_parameter SET value = to_char(now() AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD HH24:MI:SS') WHERE key = 'database.create_date'")
        conn.close()
        source = template_dir / "filestore" / template
        if source.is_dir():
            shutil.copytree(source, data_dir / "filestore" / name)
        if install:
            self.odoo_bin(odoo, name, data_dir, environ or {}, "-i", ",".join(install), "--stop-after-init",
                          *get_series(odoo.series).demo_options(False))
        return name

    def odoo_bin(self, odoo: OdooInstall, dbname: str, data_dir: Path, environ: Mapping[str, str],
                 *args: str) -> str:
        """`odoo-bin server <database options> --no-http <args>`: its output, or OdooDatabaseError unless
        it exits 0."""
        argv = [*odoo.command(), "server", *database_options(odoo.root, self.postgres, dbname, data_dir),
                "--no-http", "--log-level=warn", *args]
        # PYTHONPATH: the Odoo processes import this tree's core, not another checkout's editable install
        env = bare_environment({"PYTHONPATH": str(REPO_ROOT), **environ})
        with self._lock:
            if self._closed:
                raise OdooDatabaseError("the test session is over")
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)
            self._running.add(proc)
        try:
            output, _ = proc.communicate(timeout=INIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            terminate(proc)
            output, _ = proc.communicate()
        finally:
            with self._lock:
                self._running.discard(proc)
        if proc.returncode != 0:
            raise OdooDatabaseError(f"odoo-bin {' '.join(args)} on {dbname} failed "
                                    f"(rc={proc.returncode}):\n" + output[-5000:])
        return output
