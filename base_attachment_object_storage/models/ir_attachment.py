"""ir.attachment on an object store: dispatch on the store_fname scheme (Odoo 18.0 and 19.0).

Hooks (docs/ODOO_HOOKS.md §1 for 18.0, "Odoo 19" for 19.0): `_storage` decides where new data
goes; `_get_datas_related_values` applies the keep-in-DB rules and uploads *before* the INSERT on
both series (a failed upload aborts the create/write before any row exists); `_file_write` is then
only the entry point of callers that write bytes themselves (19.0's core calls it after the INSERT:
what was decided above is skipped); `_mark_for_gc` records candidates in the GC table in the same
transaction; `_file_read` and `_to_http_stream` read any bucket named in a store_fname through
`reading` (one translation of an outage into a 503); uploads fail the same way through `writing`.
Series differences live in `_series`. All logic is in `odoo_cloud.storage`.
"""
from __future__ import annotations

import logging
import weakref
from contextlib import closing

from odoo import api, models
from odoo.exceptions import UserError
from odoo.sql_db import db_connect

from odoo_cloud.storage import SCHEMES, StorageError, backends, factory, gc, parse_uri, rules
from odoo_cloud.storage.uri import has_object_scheme, like_prefix

from . import _series, writing
from .errors import CORE_ERRORS
from .reading import AttachmentStorageUnavailable, object_size, read_bytes
from .settings import storage_settings
from .stream import ObjectStoreStream

_logger = logging.getLogger(__name__)

KEEP_IN_DB_CONTEXT = "object_storage_keep_in_db"
GC_PARAM = "object_storage.gc."  # grace_seconds, batch_size, max_seconds

# Per cursor, the contents `_get_datas_related_values` placed in this transaction: checksum -> the
# store_fname it uploaded to, or None when the rules kept it in the database. Odoo 19.0's core calls
# `_file_write(raw, checksum)` after the INSERT for every content; this says what is already done.
# Forgotten at commit/rollback; a cursor that goes away takes its entry with it.
_placed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _placed_in_transaction(cr) -> dict:
    placed = _placed.get(cr)
    if placed is None:
        placed = _placed[cr] = {}
        cursor = weakref.ref(cr)

        def forget():
            if cursor() is not None:
                _placed.pop(cursor(), None)

        # commit() clears the rollback callbacks and rollback() the commit ones: one of them runs
        cr.postcommit.add(forget)
        cr.postrollback.add(forget)
    return placed


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    def init(self):
        gc.ensure_table(self.env.cr)

    # ------------------------------------------------------------------ where new data goes
    @api.model
    def _object_storage_schemes(self):
        """Schemes whose addon is installed in this database (attachment_s3, attachment_swift)."""
        return []

    @api.model
    def _storage(self):
        location = super()._storage()
        if location not in SCHEMES:
            return location
        if self.env.context.get(KEEP_IN_DB_CONTEXT) or storage_settings().storage.disabled:
            return "db"
        if location not in self._object_storage_schemes():
            raise UserError(self.env._(
                "ir_attachment.location is %(location)s but the addon attachment_%(location)s "
                "is not installed in this database.", location=location))
        return location

    @api.model
    def _object_store(self, scheme):
        """The store writing to this database's bucket/container; clear UserError when unusable."""
        try:
            return factory.build_store(scheme, storage_settings(), dbname=self.env.cr.dbname)
        except CORE_ERRORS as exc:
            raise UserError(self.env._("Attachment storage %(scheme)s is not usable: %(error)s",
                                       scheme=scheme, error=exc)) from None

    @api.model
    def _get_storage_domain(self):
        location = self._storage()
        if location not in SCHEMES:
            return super()._get_storage_domain()
        store = self._object_store(location)
        pattern = like_prefix(store.prefix)
        # attachments not already in the write bucket of the store
        return ["|", ("db_datas", "!=", False),
                "&", ("store_fname", "!=", False), "!", ("store_fname", "=like", pattern)]

    def _get_datas_related_values(self, data, mimetype):
        location = self._storage() if data else None
        if location not in SCHEMES:
            return super()._get_datas_related_values(data, mimetype)
        param = self.env["ir.config_parameter"].sudo().get_param(rules.PARAMETER)
        try:
            keep = rules.keep_in_database(mimetype, len(data), rules.parse_rules(param))
        except rules.RulesError as exc:
            raise UserError(str(exc)) from None
        # the core's values for a database row (checksum, size, index): no local file is touched
        values = super(IrAttachment, self.with_context(**{KEEP_IN_DB_CONTEXT: True})
                       )._get_datas_related_values(data, mimetype)
        placed = _placed_in_transaction(self.env.cr)
        if keep:
            placed.setdefault(values["checksum"], None)
            return values
        fname = self._object_storage_upload(location, data, values["checksum"])
        placed[values["checksum"]] = fname
        values.update(store_fname=fname, db_datas=False)
        return values

    # ------------------------------------------------------------------ file primitives
    @api.model
    def _file_write(self, bin_value, checksum):
        location = self._storage()
        if location not in SCHEMES:
            return super()._file_write(bin_value, checksum)
        placed = _placed_in_transaction(self.env.cr)
        if checksum in placed:  # 19.0's write after the INSERT: uploaded (or kept in the DB) already
            return placed[checksum] or False
        return self._object_storage_upload(location, bin_value, checksum)

    @api.model
    def _object_storage_upload(self, location, data, checksum):
        """Upload to the write bucket of `location`; the store_fname. A store that cannot answer is
        `AttachmentStorageUnavailable` (503, `writing.py`); a refused write a clear UserError."""
        store = self._object_store(location)
        try:
            with writing.unavailable_as_503(f"storing attachment data {checksum} in {store.prefix}"):
                return gc.write_object(self.env.cr, store, checksum, data, self._object_storage_mark_fresh)
        except StorageError as exc:
            _logger.warning("storing attachment data %s failed: %s", checksum, exc)
            raise UserError(self.env._("The file could not be stored: %(error)s", error=exc)) from None

    def _object_storage_mark_fresh(self, names):
        """Mark fresh uploads in a transaction of their own, committed now: if the current
        transaction rolls back (or is an Odoo test), the GC still finds the object."""
        try:
            with closing(db_connect(self.env.cr.dbname).cursor()) as cr:
                gc.mark(cr, names, reason=gc.UPLOAD)
                cr.commit()  # pylint: disable=invalid-commit  # a cursor of its own, opened for this commit
        except Exception:  # the data is stored and the row will reference it: only GC is at stake
            _logger.warning("could not record %s for garbage collection", names, exc_info=True)

    @api.model
    def _file_read(self, fname, size=None):
        uri = parse_uri(fname)
        if uri is None:
            return _series.core_file_read(super()._file_read, fname, size)
        ref = f"ir.attachment{tuple(self.ids)}" if self.ids else "?"
        return read_bytes(self._object_store_for_read(uri, ref), uri, ref, size)

    @api.model
    def _object_store_for_read(self, uri, ref="?"):
        if storage_settings().storage.disabled:
            raise AttachmentStorageUnavailable(
                f"attachment {ref} is stored in {uri} but object storage is disabled "
                "(DISABLE_ATTACHMENT_STORAGE)")
        return self._object_store(uri.scheme)

    def _mark_for_gc(self, fname):
        if not has_object_scheme(fname):
            return super()._mark_for_gc(fname)
        gc.mark(self.env.cr, [fname])  # ignores (and logs) an invalid reference: unlink never fails on it

    @api.model
    def _full_path(self, path):
        # the core strips '.' (and ':' on 19.0) and joins the filestore: an object name is never a local path
        if parse_uri(path) is not None:
            raise ValueError(f"{path} is an object-store name, not a path of the local filestore")
        return super()._full_path(path)

    # ------------------------------------------------------------------ download
    def _to_http_stream(self):
        uri = parse_uri(self.store_fname)
        if uri is None:
            return super()._to_http_stream()
        self.ensure_one()
        ref = f"ir.attachment({self.id},)"
        store = self._object_store_for_read(uri, ref)
        # rows written by other tools may lack file_size; ranges and Content-Length need it
        size = self.file_size or object_size(store, uri, ref)
        stream = ObjectStoreStream(
            type="data", mimetype=self.mimetype, download_name=self.name, etag=self.checksum,
            public=self.public, last_modified=self.write_date, size=size,
            store=store, uri=uri, attachment_ref=ref,
        )
        settings = storage_settings().storage
        if settings.presigned_url:
            try:
                url = store.presigned_url(uri.key, bucket=uri.bucket, expires=settings.presigned_url_expiry,
                                          filename=self.name, mimetype=self.mimetype)
            except StorageError as exc:
                _logger.warning("presigning %s failed, streaming instead: %s", uri, exc)
                url = None
            if url:
                stream.type = "url"
                stream.url = url
                # a 302 (not Odoo's permanent 301), cached less long than the URL stays valid
                stream.max_age = max(0, settings.presigned_url_expiry - 60)
        return stream

    # ------------------------------------------------------------------ garbage collection
    @api.autovacuum
    def _gc_object_storage(self):
        """Delete unreferenced objects of the write buckets, in bounded batches committed one by one."""
        if storage_settings().storage.disabled:
            return
        options = self._object_storage_gc_options()
        # the collector's protocol needs its own short transactions: phase 1's SHARE lock must be the first
        # statement of a transaction, and each batch is committed before its objects are deleted (gc.py)
        self.env.cr.commit()  # pylint: disable=invalid-commit
        commit = self.env.cr.commit  # pylint: disable=invalid-commit
        for report in self._object_storage_collect(commit=commit, **options):
            _logger.info("object storage GC: %s", report)

    @api.model
    def _object_storage_gc_options(self):
        """Bounds of one GC run from system parameters (defaults: odoo_cloud.storage.gc)."""
        params = self.env["ir.config_parameter"].sudo()
        options = {}
        for name, key, minimum in (("grace_seconds", GC_PARAM + "grace_seconds", 0),
                                   ("batch_size", GC_PARAM + "batch_size", 1),
                                   ("max_seconds", GC_PARAM + "max_seconds", 1)):
            value = params.get_param(key)
            if value in (None, False, ""):
                continue
            try:
                number = int(value)
                if number < minimum:
                    raise ValueError(value)
            except ValueError:
                raise UserError(self.env._(
                    "System parameter %(key)s=%(value)r: expected an integer >= %(minimum)s",
                    key=key, value=value, minimum=minimum)) from None
            options[name] = number
        return options

    @api.model
    def _object_storage_collect(self, commit=None, **options):
        settings = storage_settings()
        reports = []
        for scheme in self._object_storage_schemes():
            if backends.get(scheme).configured(settings):
                reports.append(gc.collect(self.env.cr, self._object_store(scheme), commit=commit, **options))
        return reports
