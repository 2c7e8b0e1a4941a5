"""W3C Trace Context (``traceparent``) for log lines: which trace and span a request belongs to.

Why it is shaped like this:

- The header is hostile input. It is checked for length first (at most `MAX_HEADER_LENGTH` characters,
  so the regular expression only ever sees a bounded string) and then matched once by a pattern
  without nested repetition: linear time. Anything that is not a valid ``traceparent``
  (https://www.w3.org/TR/trace-context/#traceparent-header) starts a new trace, as the specification
  asks, instead of propagating garbage into every log line.
- Every request gets its own span id (this server's span); the caller's span id is the parent.
- When the OpenTelemetry API is installed and a span is active (an OpenTelemetry WSGI middleware
  around Odoo), its context wins, so our log lines carry the ids the tracing backend knows.
- No dependency: ids come from `os.urandom`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

__all__ = ["MAX_HEADER_LENGTH", "TraceContext", "current_span_context", "new_span_id", "new_trace_id",
           "parse_traceparent", "request_trace", "request_trace_ids"]

#: generous: version 00 is 55 characters; later versions may append fields, we keep only the first four
MAX_HEADER_LENGTH = 512
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
# version-trace_id-parent_id-flags, lowercase hex only; a future version may append "-<anything>"
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?")


@dataclass(frozen=True)
class TraceContext:
    """Ids for log lines: `trace_id` (32 hex), `span_id` (16 hex, this request's span), the caller's
    span as `parent_id` (None when this request started the trace) and the sampled flag."""

    trace_id: str
    span_id: str
    parent_id: Optional[str] = None
    sampled: bool = False

    @property
    def traceparent(self) -> str:
        """The header to send downstream (version 00)."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def parse_traceparent(value: Optional[str]) -> Optional[TraceContext]:
    """The incoming context (`span_id` = the caller's span), or None when absent or invalid.

    Rules of the specification: version ``ff`` is invalid; version ``00`` has exactly four fields;
    all-zero trace or parent ids are invalid; hex must be lowercase.
    """
    if not value or len(value) > MAX_HEADER_LENGTH:
        return None
    value = value.strip(" \t")
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _INVALID_TRACE_ID or parent_id == _INVALID_SPAN_ID:
        return None
    return TraceContext(trace_id, parent_id, None, bool(int(flags, 16) & 1))


def current_span_context() -> Optional[TraceContext]:
    """OpenTelemetry's current span, when the API is installed and a valid span is active."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    try:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return TraceContext(format(context.trace_id, "032x"), format(context.span_id, "016x"), None,
                            bool(context.trace_flags & 1))
    except Exception:  # a broken tracing setup must not break requests
        return None


def _opentelemetry_installed() -> bool:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


_OPENTELEMETRY = _opentelemetry_installed()


def request_trace_ids(traceparent: Optional[str]) -> tuple[str, str]:
    """(trace_id, span_id) of `request_trace`, with a fast path for the common case (no header, no
    OpenTelemetry): one call to the OS for both ids. Runs once per request."""
    if not traceparent and not _OPENTELEMETRY:
        ids = os.urandom(24).hex()
        return ids[:32], ids[32:]
    trace = request_trace(traceparent)
    return trace.trace_id, trace.span_id


def request_trace(traceparent: Optional[str]) -> TraceContext:
    """The context of a new server request: OpenTelemetry's active span when there is one, else the
    incoming trace with a new span id of ours (parent: the caller's span), else a new trace."""
    if _OPENTELEMETRY:
        active = current_span_context()
        if active is not None:
            return active
    incoming = parse_traceparent(traceparent)
    if incoming is None:
        return TraceContext(new_trace_id(), new_span_id())
    return TraceContext(incoming.trace_id, new_span_id(), incoming.span_id, incoming.sampled)
