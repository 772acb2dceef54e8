"""A syntactically valid URL for every service apprise lists, built from the service's own templates,
with a distinct canary secret in every token the schema marks private."""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from re import _constants as C
from re import _parser as sre
from typing import Any

import apprise

SECRET_BASES = ("c4n4ry5ecretk3y", "ca11ab1edeadbeef", "7331733173")
PUBLIC_BASES = ("plainvalue", "15551234567", "ops@example.com")
FILLERS = string.ascii_letters + string.digits + "_-."
_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    C.CATEGORY_DIGIT: str.isdigit, C.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    C.CATEGORY_WORD: lambda c: c.isalnum() or c == "_", C.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
    C.CATEGORY_SPACE: str.isspace, C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
}


def _in(items: list[tuple[Any, Any]], ignore_case: bool) -> Callable[[str], bool]:
    """The predicate of a character class ``[…]``."""
    def one(c: str) -> bool:
        hit = False
        for op, arg in items:
            if op is C.LITERAL:
                hit = hit or ord(c) == arg
            elif op is C.RANGE:
                hit = hit or arg[0] <= ord(c) <= arg[1]
            elif op is C.CATEGORY:
                hit = hit or _CATEGORIES[arg](c)
        return not hit if items and items[0][0] is C.NEGATE else hit

    return lambda c: one(c) or (ignore_case and (one(c.lower()) or one(c.upper())))


class _Writer:
    """Writes a string matching a parsed pattern, taking each free character from ``base`` where allowed."""

    def __init__(self, base: str, ignore_case: bool) -> None:
        self.source = itertools.cycle(base)
        self.width = len(base)
        self.ignore_case = ignore_case

    def char(self, allowed: Callable[[str], bool]) -> str:
        for _ in range(self.width):
            c = next(self.source)
            if allowed(c):
                return c
        return next((c for c in FILLERS if allowed(c)), "x")

    def write(self, parsed: Any) -> str:
        out = []
        for op, arg in parsed:
            if op is C.LITERAL:
                out.append(chr(arg))
            elif op is C.NOT_LITERAL:
                out.append(self.char(lambda c, a=arg: ord(c) != a))
            elif op is C.ANY:
                out.append(self.char(lambda c: c != "\n"))
            elif op is C.IN:
                out.append(self.char(_in(arg, self.ignore_case)))
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                low, high, sub = arg
                out.extend(self.write(sub) for _ in range(max(low, min(high, self.width))))
            elif op is C.SUBPATTERN:
                out.append(self.write(arg[-1]))
            elif op is C.BRANCH:
                out.append(self.write(arg[1][0]))
        return "".join(out)


def matching(regex: tuple[str, str | None] | None, base: str) -> str:
    """``base`` itself if the token's regex allows it, else a string of the regex made from ``base``'s characters."""
    if not regex:
        return base
    flags = re.IGNORECASE if regex[1] and "i" in regex[1] else 0
    if re.fullmatch(regex[0], base, flags):
        return base
    return _Writer(base, bool(flags)).write(sre.parse(regex[0], flags))


@dataclass(frozen=True)
class ServiceURL:
    service: str
    scheme: str
    url: str
    canaries: frozenset[str]
    parsed: bool  # apprise itself accepts the URL (a plugin instance was made from it)


def _fill(template: str, tokens: dict[str, Any], scheme: str, secret: str, public: str) -> tuple[str, set[str]]:
    values: dict[str, str] = {}
    canaries: set[str] = set()
    for name in re.findall(r"{(\w+)}", template):
        token = tokens.get(name, {})
        kind = str(token.get("type", "string"))
        if name == "schema":
            value = scheme
        elif token.get("private"):
            value = matching(token.get("regex"), secret + name.replace("_", ""))
            value = f"{value}@example.com" if kind == "email" else value
            canaries.add(value)
        elif kind.startswith("choice") and token.get("values"):
            value = sorted(token["values"])[0]
        elif kind == "int":
            value = str(token.get("default") or 8080)
        elif kind == "email":
            value = "ops@example.com"
        else:
            value = matching(token.get("regex"), "example.com" if name == "host" else public)
        values[name] = value
    return template.format(**values), canaries


def service_urls() -> Iterator[ServiceURL]:
    """One URL per service apprise lists (enabled or not): the first of its templates, filled with each
    canary and public-value style in turn, that apprise parses; else the last one tried."""
    asset = apprise.AppriseAsset(storage_mode="memory")
    for schema in apprise.Apprise().details(show_disabled=True)["schemas"]:
        details = schema["details"]
        scheme = (schema.get("secure_protocols") or schema.get("protocols") or ["?"])[0]
        tried: tuple[str, set[str]] = ("", set())
        for template, secret, public in itertools.product(details["templates"], SECRET_BASES, PUBLIC_BASES):
            tried = _fill(template, details["tokens"], scheme, secret, public)
            if apprise.Apprise.instantiate(tried[0], asset=asset) is not None:
                yield ServiceURL(str(schema["service_name"]), scheme, tried[0], frozenset(tried[1]), True)
                break
        else:
            yield ServiceURL(str(schema["service_name"]), scheme, tried[0], frozenset(tried[1]), False)
