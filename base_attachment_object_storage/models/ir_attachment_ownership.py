"""ir.attachment glue of the bucket ownership records (odoo_cloud/storage/ownership.py).

At registry load a database records itself in its write bucket(s) (owner) and in every bucket its
attachments reference (reader), so that another database's garbage collector knows it must check
this one before deleting there; the GC passes Odoo's connection parameters so the collector can
check the other databases of its PostgreSQL cluster. Nothing here may keep a database from loading:
a store that cannot be reached is logged, and the next GC run registers again before deleting.
"""
from __future__ import annotations

import logging
import threading

import psycopg2
from odoo import api, models
from odoo.exceptions import UserError
from odoo.sql_db import connection_info_for
from odoo.tools import config

from odoo_cloud.storage import ObjectNotFound, StorageError, backends, factory, gc, ownership

from .errors import CORE_ERRORS
from .settings import storage_settings

_logger = logging.getLogger(__name__)

#: the reader scan reads every store_fname once; bounded so a huge table never delays a registry load
SCAN_TIMEOUT_MS = 5000
BUCKETS_QUERY = r"""
    SELECT DISTINCT substring(store_fname FROM '^([a-z0-9]+)://'),
                    substring(store_fname FROM '^[a-z0-9]+://([^/]+)/')
      FROM ir_attachment
     WHERE store_fname LIKE '%://%'
"""


def connect_same_cluster(dbname):
    """A plain (READ COMMITTED) connection to another database with this server's parameters."""
    _name, info = connection_info_for(dbname)
    return psycopg2.connect(**info)


def _record(store, identity, running_env, role):
    """Write one record; a non-prod database meeting prod's bucket records itself as reader only (its
    writes and deletes there are refused by the stores' guard) and says so at once."""
    try:
        if role == ownership.OWNER:
            try:
                refusal = ownership.prod_refusal(store, ownership.list_records(store), running_env,
                                                 "write to or delete from")
            except ObjectNotFound:
                refusal = None
            if refusal:
                ownership.say_once(_logger, store.prefix, refusal)
                role = ownership.READER
        ownership.register(store, identity, role, running_env)
    except ObjectNotFound:
        return  # a bucket that does not exist holds nothing of ours to protect
    except CORE_ERRORS as error:
        _logger.warning("object storage: cannot record %s as %s of %s: %s", identity, role, store.prefix,
                        error)


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    def _register_hook(self):
        super()._register_hook()
        try:
            with self.env.cr.savepoint():
                work = self._object_storage_registration()
        except Exception:  # never keep a database from loading: the GC registers again before deleting
            _logger.warning("object storage: could not record this database in its buckets", exc_info=True)
            return
        if work is not None:
            # the network part in the background: an unreachable store must not delay a registry load
            threading.Thread(target=work, name="object-storage-ownership", daemon=True).start()

    @api.model
    def _object_storage_running_env(self):
        """server_environment's `running_env` (its config option) when set, else the variables."""
        settings_env = storage_settings().platform.running_env
        running_env = ownership.running_env_of(config.get("running_env") or settings_env)
        ownership.set_running_env(running_env)
        return running_env

    @api.model
    def _object_storage_register(self):
        """Record this database as owner of its write bucket(s) and reader of the buckets it references,
        now (the GC does this before deleting)."""
        work = self._object_storage_registration()
        if work is not None:
            work()

    @api.model
    def _object_storage_registration(self):
        """What to record where, read from the database now; returns the network part as a callable that
        touches no cursor (None: object storage is disabled)."""
        settings = storage_settings()
        if settings.storage.disabled:
            return None
        gc.ensure_epochs(self.env.cr)  # databases installed before the epochs existed
        running_env = self._object_storage_running_env()
        identity = ownership.identify(self.env.cr)
        targets = []
        written = set()
        schemes = self._object_storage_schemes()
        for scheme in schemes:
            if not backends.get(scheme).configured(settings):
                continue
            try:
                store = self._object_store(scheme)
            except UserError as error:
                _logger.warning("object storage: %s", error)
                continue
            written.add((scheme, store.bucket))
            targets.append((store, ownership.OWNER))
        for scheme, bucket in self._object_storage_referenced_buckets():
            if (scheme, bucket) in written or scheme not in schemes:
                continue
            try:
                store = factory.build_store(scheme, settings, dbname=self.env.cr.dbname, bucket=bucket)
                targets.append((store, ownership.READER))
            except CORE_ERRORS as error:
                _logger.warning("object storage: cannot record this database as reader of %s://%s: %s",
                                scheme, bucket, error)

        def record_all():
            for store, role in targets:
                _record(store, identity, running_env, role)

        return record_all

    @api.model
    def _object_storage_referenced_buckets(self):
        """(scheme, bucket) of every object-store reference of this database, in bounded time."""
        cr = self.env.cr
        try:
            with cr.savepoint(flush=False):
                cr.execute("SELECT current_setting('statement_timeout')")
                previous = cr.fetchone()[0]
                cr.execute("SET LOCAL statement_timeout = %s", (SCAN_TIMEOUT_MS,))
                cr.execute(BUCKETS_QUERY)
                found = [(scheme, bucket) for scheme, bucket in cr.fetchall() if scheme and bucket]
                cr.execute("SELECT set_config('statement_timeout', %s, true)", (previous,))
        except psycopg2.Error as error:
            _logger.warning("object storage: listing the buckets referenced by this database failed (%s); "
                            "the next GC run records them", error)
            return []
        return sorted(found)

    # ------------------------------------------------------------------ GC
    @api.model
    def _object_storage_gc_options(self):
        options = super()._object_storage_gc_options()
        if "grace_seconds" in options:
            try:
                gc.check_grace_seconds(options["grace_seconds"])
            except ValueError as error:
                raise UserError(self.env._("System parameter %(error)s", error=error)) from None
        return options

    @api.model
    def _object_storage_collect(self, commit=None, **options):
        """Before deleting: record this database again (and the buckets it reads), then let the
        collector check every other database recorded in the bucket through this server's
        connection parameters."""
        try:
            self._object_storage_register()
        except (StorageError, UserError) as error:
            _logger.warning("object storage GC: registration failed: %s", error)
        options.setdefault("running_env", self._object_storage_running_env())
        options.setdefault("unsafe", storage_settings().platform.unsafe)
        options.setdefault("connect", connect_same_cluster)
        return super()._object_storage_collect(commit=commit, **options)
