"""Strict, problem-collecting readers for environment variables.

Every reader records what is wrong instead of raising at once, so that a
deployment with three bad variables learns about all three in one start-up
instead of three crash loops.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, TypeVar, Union, overload
from urllib.parse import urlsplit

from ..errors import Misconfigured
from ..masking import MASK, mask_secrets
from .variables import Variable

T = TypeVar("T")
D = TypeVar("D")  # a default: a value of the read type, or None

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
BOOL_FORM = "a boolean: 1/true/yes/on or 0/false/no/off (any case)"


class Secret:
    """A string that never shows itself in repr(), str() or f-strings.

    Settings objects are printed in logs and tracebacks; wrapping secrets
    keeps them out of those without every caller remembering to mask.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value, for handing to a client library only."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:  # pickling must not be a side door either way
        return (Secret, (self._value,))


@dataclass(frozen=True)
class Problem:
    """One misconfiguration: which variable, what was found, what is expected."""

    variable: str
    found: str
    expected: str

    def __str__(self) -> str:
        return f"{self.variable}={self.found}: expected {self.expected}"


class ConfigError(Misconfigured, ValueError):
    """Raised once with every problem found, each naming its variable."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s):\n{lines}")

    @property
    def variables(self) -> list[str]:
        return [p.variable for p in self.problems]


#: "no default given": take the declared variable's (odoo_cloud.config.variables)
_DECLARED: Any = object()

Name = Union[str, Variable[Any]]


def _declared(name: Name, default: Any, kind: str, fallback: Any = None) -> tuple[str, Any]:
    """(name, default) of `name`; a declared Variable brings its own default and must be read as the
    type it is declared with (a reader disagreeing with the registry is a programming error)."""
    if isinstance(name, Variable):
        if name.type != kind:
            raise TypeError(f"{name.name} is declared as {name.type!r} but read as {kind!r}")
        return name.name, name.default if default is _DECLARED else default
    return name, fallback if default is _DECLARED else default


class EnvReader:
    """Reads typed values from an environment mapping, collecting problems.

    Every reader takes the variable's name or, better, its declaration from
    `odoo_cloud.config.variables` (then the name and the default are written once, there).
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[Problem] = []

    # -- raw access -------------------------------------------------------
    def raw(self, name: Name) -> Optional[str]:
        """The stripped value, or None when unset or empty."""
        if isinstance(name, Variable):
            name = name.name
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def is_set(self, name: Name) -> bool:
        return self.raw(name) is not None

    def problem(self, name: Name, found: Optional[str], expected: str, secret: bool = False) -> None:
        if isinstance(name, Variable):
            name = name.name
        # masked even when not secret: a URL with credentials lands in the wrong variable too
        shown = "<unset>" if found is None else (MASK if secret else repr(mask_secrets(found)))
        self.problems.append(Problem(name, shown, expected))

    def _typed(self, name: str, default: D, parse: Callable[[str], T], expected: str,
               secret: bool = False) -> T | D:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, TypeError):
            self.problem(name, value, expected, secret=secret)
            return default

    # -- typed readers ----------------------------------------------------
    # Each reader takes a name or a declaration (odoo_cloud.config.variables). It returns its type when the
    # declaration's default or the given default is of that type, Optional when the default is None.
    @overload
    def text(self, name: Variable[str], default: str = ..., required: bool = False,
             pattern: Optional[str] = None, expected: str = ...) -> str: ...
    @overload
    def text(self, name: Name, default: str, required: bool = False, pattern: Optional[str] = None,
             expected: str = ...) -> str: ...
    @overload
    def text(self, name: Name, default: None = None, required: bool = False, pattern: Optional[str] = None,
             expected: str = ...) -> Optional[str]: ...
    def text(self, name: Name, default: Optional[str] = _DECLARED, required: bool = False,
             pattern: Optional[str] = None, expected: str = "a non-empty string") -> Optional[str]:
        name, default = _declared(name, default, "text")
        value = self.raw(name)
        if value is None:
            if required:
                self.problem(name, None, expected)
            return default
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(name, value, expected)
            return default
        return value

    def secret(self, name: Name, required: bool = False,
               expected: str = "a non-empty secret") -> Optional[Secret]:
        name, _ = _declared(name, None, "secret")
        value = self.environ.get(name)
        if not value:
            if required:
                self.problem(name, None, expected)
            return None
        return Secret(value)

    def flag(self, name: Name, default: bool = _DECLARED) -> bool:
        name, default = _declared(name, default, "flag", False)

        def parse(value: str) -> bool:
            word = value.lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError(value)

        return self._typed(name, default, parse, BOOL_FORM)

    @overload
    def integer(self, name: Variable[int], default: int = ..., minimum: Optional[int] = None,
                maximum: Optional[int] = None, expected: Optional[str] = None, *, kind: str = ...) -> int: ...
    @overload
    def integer(self, name: Name, default: int, minimum: Optional[int] = None, maximum: Optional[int] = None,
                expected: Optional[str] = None, *, kind: str = ...) -> int: ...
    @overload
    def integer(self, name: Name, default: None = None, minimum: Optional[int] = None,
                maximum: Optional[int] = None, expected: Optional[str] = None, *,
                kind: str = ...) -> Optional[int]: ...
    def integer(self, name: Name, default: Optional[int] = _DECLARED, minimum: Optional[int] = None,
                maximum: Optional[int] = None, expected: Optional[str] = None, *,
                kind: str = "integer") -> Optional[int]:
        name, default = _declared(name, default, kind)
        bounds = []
        if minimum is not None:
            bounds.append(f">= {minimum}")
        if maximum is not None:
            bounds.append(f"<= {maximum}")
        form = expected or ("an integer" + (" " + " and ".join(bounds) if bounds else ""))

        def parse(value: str) -> int:
            number = int(value, 10)
            if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
                raise ValueError(value)
            return number

        return self._typed(name, default, parse, form)

    @overload
    def number(self, name: Variable[float], default: float = ..., minimum: float = 0.0,
               expected: Optional[str] = None) -> float: ...
    @overload
    def number(self, name: Name, default: float, minimum: float = 0.0,
               expected: Optional[str] = None) -> float: ...
    @overload
    def number(self, name: Name, default: None = None, minimum: float = 0.0,
               expected: Optional[str] = None) -> Optional[float]: ...
    def number(self, name: Name, default: Optional[float] = _DECLARED, minimum: float = 0.0,
               expected: Optional[str] = None) -> Optional[float]:
        name, default = _declared(name, default, "number")
        form = expected or f"a number >= {minimum:g} (seconds)"

        def parse(value: str) -> float:
            number = float(value)
            if math.isnan(number) or number < minimum or number == float("inf"):
                raise ValueError(value)
            return number

        return self._typed(name, default, parse, form)

    @overload
    def port(self, name: Variable[int], default: int = ...) -> int: ...
    @overload
    def port(self, name: Name, default: int) -> int: ...
    @overload
    def port(self, name: Name, default: None = None) -> Optional[int]: ...
    def port(self, name: Name, default: Optional[int] = _DECLARED) -> Optional[int]:
        return self.integer(name, default, minimum=1, maximum=65535,
                            expected="a TCP/UDP port number between 1 and 65535", kind="port")

    @overload
    def ttl(self, name: Variable[int], default: int = ...) -> int: ...
    @overload
    def ttl(self, name: Name, default: int) -> int: ...
    @overload
    def ttl(self, name: Name, default: None = None) -> Optional[int]: ...
    def ttl(self, name: Name, default: Optional[int] = _DECLARED) -> Optional[int]:
        return self.integer(name, default, minimum=1, expected="a duration in whole seconds >= 1", kind="ttl")

    def url(self, name: Name, schemes: tuple[str, ...], default: Optional[str] = _DECLARED,
            required: bool = False, secret_parts: bool = True) -> Optional[str]:
        """A URL with one of `schemes` and a host; credentials are masked in problems."""
        name, default = _declared(name, default, "url")
        value = self.raw(name)
        expected = f"a URL like {schemes[0]}://host[:port][/path] (scheme one of {', '.join(schemes)})"
        if value is None:
            if required:
                self.problem(name, None, expected)
            return default
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
            ok = parts.scheme in schemes and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            shown = mask_secrets(value) if secret_parts else value
            self.problems.append(Problem(name, repr(shown), expected))
            return default
        return value

    @overload
    def choice(self, name: Variable[str], choices: tuple[str, ...], default: str = ...) -> str: ...
    @overload
    def choice(self, name: Name, choices: tuple[str, ...], default: str) -> str: ...
    @overload
    def choice(self, name: Name, choices: tuple[str, ...], default: None = None) -> Optional[str]: ...
    def choice(self, name: Name, choices: tuple[str, ...],
               default: Optional[str] = _DECLARED) -> Optional[str]:
        name, default = _declared(name, default, "choice")
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() not in choices:
            self.problem(name, value, "one of " + ", ".join(choices))
            return default
        return value.lower()

    def aliased(self, variable: Variable[Any], read: Callable[[Name], T]) -> T:
        """`read(variable)`, or `read(alias)` for the first of its `aliases` that is set when it is not.

        Aliases are other suites' names for the same setting (a site switching
        suites keeps its environment). Both spellings set with values that read
        differently is a problem naming both: which one wins would be a guess.
        Values compare as read (`1` and `true` agree); secrets are never shown.
        """
        value = read(variable)
        for alias in variable.aliases:
            if not self.is_set(alias):
                continue
            other = read(alias)
            if not self.is_set(variable):
                return other
            if other != value:
                shown = (MASK, MASK) if variable.secret else (
                    repr(mask_secrets(self.raw(variable) or "")), repr(mask_secrets(self.raw(alias) or "")))
                self.problems.append(Problem(
                    variable.name, f"{shown[0]} while {alias}={shown[1]}",
                    "only one of the two spellings of this setting, or both with the same value"))
        return value

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)
