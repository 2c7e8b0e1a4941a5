"""Keep-in-database rules: small images and web assets are read on every page
load; a round trip to the object store for each would cost more than the
bytes they take in PostgreSQL.

Rules map a mimetype prefix to a maximum size in bytes; 0 means any size.
The longest matching prefix wins. They are stored as the system parameter
`ir_attachment.storage.force.database` in the same literal form as the
original OCA addon. `DEFAULT_RULES` is the one place of the defaults: the Odoo glue writes the parameter
from it at install (`DEFAULT_RULES_TEXT`), and an unset or empty parameter means them.
"""
from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Optional

from ..errors import Misconfigured

PARAMETER = "ir_attachment.storage.force.database"
DEFAULT_RULES: dict[str, int] = {"image/": 51200, "application/javascript": 0, "text/css": 0}
DEFAULT_RULES_TEXT = json.dumps(DEFAULT_RULES)  # the parameter's value at install
RULES_FORM = f"a mapping of mimetype prefix to max size in bytes (0 = any size), e.g. {DEFAULT_RULES_TEXT}"


class RulesError(Misconfigured, ValueError):
    """The rules parameter (ir_attachment.storage.force.database) is not a valid mapping."""


def parse_rules(text: Optional[str]) -> dict[str, int]:
    """Rules from the parameter value; unset/empty gives the defaults."""
    if text is None or not text.strip():
        return dict(DEFAULT_RULES)
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise RulesError(f"{PARAMETER}={text!r}: expected {RULES_FORM}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        raise RulesError(f"{PARAMETER}={text!r}: expected {RULES_FORM}")
    return dict(value)


def keep_in_database(mimetype: Optional[str], size: int, rules: Mapping[str, int]) -> bool:
    """True when the longest rule prefix matching `mimetype` allows `size`."""
    if not mimetype:
        return False
    best: Optional[str] = None
    for prefix in rules:
        if mimetype.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    if best is None:
        return False
    limit = rules[best]
    return limit == 0 or size <= limit
