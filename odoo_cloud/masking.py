"""The one place that hides secrets in text (URLs, query strings, log messages) and in log data.

Why it is shaped like this:

- Every URL, error message or log line this project prints goes through `mask_secrets`; a second,
  slightly different masker somewhere else is how a password ends up in a log (the original suite had
  three, each missing shapes the others knew: a password containing ``@``, ``redis://host/0?password=``).
- Part of that text comes from requests, i.e. from anyone. Every scan here runs in time linear in the
  length of the text: regular expressions are only used where no character can be claimed by two
  competing repetitions (no nested or adjacent overlapping quantifiers), and each character is looked at
  a bounded number of times (`?token?token…` made the previous regex backtrack for 20 s on 7 KB). Callers
  that handle request-derived text also cut it to a bounded length first (`bounded`).
- What is a secret is decided from *names*: userinfo of a URL, and the value of any ``name=value`` or
  ``"name": value`` whose name contains a word such as password, pwd, secret, token, key, hash,
  signature, sig, credential, auth or cookie (case-insensitive, camelCase and ``_.-`` separated parts).
  Structured log data (dict messages, mapping arguments, nested extras) is masked by key, recursively.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

__all__ = ["MASK", "bounded", "is_secret_name", "mask_data", "mask_secrets", "mask_url"]

MASK = "****"

#: a name with one of these as a whole part (``db_password``, ``X-Amz-Signature``, ``temp_url_sig``,
#: ``sessionToken``) names a secret; ``tests_passed``, ``tokenizer`` or ``keyword`` do not
SECRET_PARTS = frozenset({
    "pass", "passwd", "password", "passphrase", "pwd", "secret", "token", "key", "apikey", "hash",
    "signature", "sig", "credential", "credentials", "auth", "authorization", "cookie", "sessionid",
})
#: found anywhere in a lowered name (``aws_secret_access_key``, ``AWSAccessKeyId``, ``mypassword``)
SECRET_SUBSTRINGS = ("password", "passwd", "secret", "credential", "signature", "apikey", "api_key",
                     "accesskey", "access_key", "privatekey", "private_key", "session_id")
#: cheap pre-filter: text without any of these (lowered) has no secret-looking name at all
_NAME_HINTS = ("pass", "pwd", "secret", "token", "key", "hash", "sig", "credential", "auth", "cookie",
               "session")

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NAME_CACHE_LIMIT = 128  # only short names are cached: an attacker's 64 KB names must not pile up


def _is_secret_name(name: str) -> bool:
    if "%" in name:
        name = unquote(name)  # ?pass%77ord= is ?password= to the server
    lowered = name.lower()
    for word in SECRET_SUBSTRINGS:
        if word in lowered:
            return True
    parts = _NON_ALNUM.split(_CAMEL_BOUNDARY.sub("_", name).lower())
    return not SECRET_PARTS.isdisjoint(parts)


_cached_is_secret_name = lru_cache(maxsize=4096)(_is_secret_name)


def is_secret_name(name: str) -> bool:
    """Whether a parameter, field or key called `name` holds a secret (see `SECRET_PARTS`)."""
    if len(name) <= _NAME_CACHE_LIMIT:
        return _cached_is_secret_name(name)
    return _is_secret_name(name)


def bounded(text: str, limit: int, keep: str = "head") -> str:
    """`text` cut to at most `limit` characters (plus a note saying how many were cut).

    `keep="tail"` keeps the end instead (a traceback's last lines name the error). Cut *before*
    masking: `mask_secrets` then treats a secret cut in the middle like any other (masked to the end).
    """
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    if keep == "tail":
        return f"[{cut} characters cut]…" + text[cut:]
    return text[:limit] + f"…[{cut} characters cut]"


# ------------------------------------------------------------------------------------------- userinfo
_AUTHORITY_END = re.compile(r"[/?#\s\"'<>]")
_TOKEN_END = re.compile(r"[\s\"'<>]")
#: after a port, the end of a sentence or a message (`redis://h:6379: Connection refused`)
_TRAILING_PUNCTUATION = ":,;.!)]}"


def _mask_userinfo(text: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://user:****@host``, for every URL in `text`.

    The password ends at the *last* ``@`` of the authority, so ``redis://:p@ss@host`` hides ``p@ss``.
    A password with an unencoded ``/``, ``?`` or ``#`` makes the authority look like ``host:port`` with a
    non-numeric port: such a "port" is masked too, up to the last ``@`` of the URL (or the authority's
    end when there is none). Each URL's end and last ``@`` are computed once: linear in len(text).
    """
    out: list[str] = []
    pos = 0
    token_end = token_at = -1  # end of the current whitespace-delimited URL and its last '@'
    start = text.find("://")
    while start >= 0:
        begin = start + 3
        found = _AUTHORITY_END.search(text, begin)
        authority_end = found.start() if found else len(text)
        at = text.rfind("@", begin, authority_end)
        colon_from = begin
        if text.startswith("[", begin):  # IPv6 literal: its colons are not a password's
            bracket = text.find("]", begin, authority_end)
            colon_from = bracket + 1 if bracket >= 0 else authority_end
        colon = text.find(":", colon_from, at if at >= 0 else authority_end)
        mask_end = -1
        if at >= 0:
            if colon >= 0:
                mask_end = at
        elif colon >= 0 and not text[colon + 1:authority_end].rstrip(_TRAILING_PUNCTUATION).isdigit():
            if begin >= token_end:
                found = _TOKEN_END.search(text, begin)
                token_end = found.start() if found else len(text)
                token_at = text.rfind("@", begin, token_end)
            mask_end = token_at if token_at > colon else authority_end
        if mask_end > colon + 1:
            out.append(text[pos:colon + 1])
            out.append(MASK)
            pos = mask_end
            start = text.find("://", max(mask_end, begin))
        else:
            start = text.find("://", begin)
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# ------------------------------------------------------------------------------ name=value, "name": value
_NAME = r"[\w.%\[\]-]+"
#: an unquoted ``name=`` (name not preceded by a name character) or a quoted ``"name":``/``'name' =``;
#: each repetition stops at the first character the next element needs: no backtracking blow-up
_KEY = re.compile(rf"(?<![\w.%\[\]-])(?P<name>{_NAME})=|(?P<q>[\"'])(?P<qname>{_NAME})(?P=q)[ \t]*[:=][ \t]*")
_QUERY_VALUE = re.compile(r"[^&#\s\"'<>]*")
_BARE_VALUE = re.compile(r"[^,;}\]\s]*")
_QUOTED_VALUE = {'"': re.compile(r'(?:[^"\\]|\\.)*'), "'": re.compile(r"(?:[^'\\]|\\.)*")}
_BRACKETS = re.compile(r"[\[\]{}]")


def _nested_end(text: str, start: int) -> int:
    """End of the bracketed value opening at `start` (brackets counted, quotes ignored)."""
    depth = 0
    for bracket in _BRACKETS.finditer(text, start):
        depth += 1 if bracket.group() in "[{" else -1
        if depth <= 0:
            return bracket.end()
    return len(text)


def _value_end(text: str, start: int, quoted_name: bool) -> tuple[int, int]:
    """(start, end) of the value beginning at `start`, quotes of a quoted value left outside."""
    if start >= len(text):
        return start, start
    first = text[start]
    if first in "\"'":
        quoted = _QUOTED_VALUE[first].match(text, start + 1)
        assert quoted is not None  # the pattern also matches an unterminated value, up to the end
        return start + 1, quoted.end()
    if quoted_name and first in "[{":
        return start, _nested_end(text, start)
    pattern = _BARE_VALUE if quoted_name else _QUERY_VALUE
    bare = pattern.match(text, start)
    assert bare is not None  # both patterns match the empty string
    return start, bare.end()


def _mask_named_values(text: str) -> str:
    out: list[str] = []
    written = pos = 0
    search = _KEY.search
    while True:
        match = search(text, pos)
        if match is None:
            break
        name = match.group("name")
        quoted = name is None
        pos = match.end()
        if not is_secret_name(match.group("qname") if quoted else name):
            continue
        value_start, value_end = _value_end(text, pos, quoted)
        if value_end > value_start:
            out.append(text[written:value_start])
            out.append(MASK)
            written = pos = value_end
    if not out:
        return text
    out.append(text[written:])
    return "".join(out)


def _may_name_a_secret(text: str) -> bool:
    lowered = text.lower()
    if "%" in lowered:  # ?%70assword= names a password too
        lowered = unquote(lowered).lower()
    for hint in _NAME_HINTS:
        if hint in lowered:
            return True
    return False


def mask_secrets(text: str) -> str:
    """`text` with every secret it shows replaced by ``****``: the password of each URL's userinfo and
    the value of each ``name=value`` (query strings, DSNs, headers) or ``"name": value`` (JSON, Python
    reprs) whose name looks like a secret (`is_secret_name`). Linear in len(text); the usual text (no
    ``=``, ``://`` or quoted key) costs four substring checks."""
    if "://" in text:
        text = _mask_userinfo(text)
    elif "=" not in text and "':" not in text and '":' not in text:
        return text
    if ("=" in text or "':" in text or '":' in text) and _may_name_a_secret(text):
        return _mask_named_values(text)
    return text


#: the same function, under the name a caller printing a URL looks for (not a second masker)
mask_url = mask_secrets


# ------------------------------------------------------------------------------------ structured data
MAX_DEPTH = 32


class _NotATree(Exception):
    """A container inside itself, or nested deeper than `MAX_DEPTH`."""


def mask_data(value: Any) -> Any:
    """A copy of `value` (log extras, dict messages, mapping arguments) with the values of secret-named
    keys replaced by ``****`` at any depth and every string passed through `mask_secrets`.

    Lists, tuples and sets come back as lists (what JSON makes of them anyway); other objects are left
    to the caller (the JSON formatter masks their str()). A circular value, one nested deeper than
    `MAX_DEPTH` or one whose items() raises becomes its masked str(), whole.
    """
    try:
        return _mask_tree(value, 0, set())
    except Exception:  # _NotATree, RecursionError, a mapping whose items() raises
        return mask_secrets(_safe_str(value))


def _mask_tree(value: Any, depth: int, path: set[int]) -> Any:
    cls = value.__class__
    if cls is str:
        return mask_secrets(value)
    if cls is int or cls is float or cls is bool or value is None:
        return value
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = None
    elif isinstance(value, str):
        return mask_secrets(str.__str__(value))
    else:
        return value
    if depth >= MAX_DEPTH or id(value) in path:
        raise _NotATree
    path.add(id(value))
    try:
        if items is None:
            return [_mask_tree(item, depth + 1, path) for item in value]
        return {key: MASK if key.__class__ is str and is_secret_name(key)
                else _mask_tree(item, depth + 1, path) for key, item in items}
    finally:
        path.discard(id(value))


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
