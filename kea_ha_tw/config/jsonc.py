# -*- test-case-name: tests.test_config -*-
"""
A JSON reader that accepts what Kea 2.2's configuration parser accepts.

On top of strict JSON (RFC 8259) it allows, as Kea does:
  - comments: C{#} to the end of the line, C{//} to the end of the line,
    and C{/* ... */}, anywhere outside strings;
  - one extraneous comma before a closing C{}} or C{]}; Kea warns
    "Extraneous comma. A piece of configuration may have been omitted."
    and goes on; so do we, returning the warning's position.

Like Kea, a key repeated in one map is an error ("duplicate X entries in
JSON map"), where Python's C{json} module would silently keep the last one.

No standard-library or PyPI reader does all three (Kea's C{#} comments,
trailing-comma warnings with a position, duplicate-key errors), hence this
small recursive-descent parser. It is pure: no I/O, no logging.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JSONCError", "SyntaxWarningAt", "loads"]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_STRING_CHUNK = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class JSONCError(ValueError):
    """
    The text is not acceptable JSON.

    @ivar line: 1-based line of the offending character.
    @ivar column: 1-based column of the offending character.
    @ivar path: the JSON path of the value being read (C{"Dhcp4.subnet4[0]"}),
        or C{""} at the top.
    @ivar reason: what is wrong, in words.
    """

    def __init__(self, line: int, column: int, path: str, reason: str) -> None:
        super().__init__(f"{line}.{column}: {reason}")
        self.line = line
        self.column = column
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SyntaxWarningAt:
    """A tolerated irregularity (an extraneous comma) and where it is."""

    line: int
    column: int
    path: str
    message: str


EXTRA_COMMA = "Extraneous comma. A piece of configuration may have been omitted."


def join_path(path: str, key: str | int) -> str:
    """C{join_path("Dhcp4", "subnet4")} -> C{"Dhcp4.subnet4"}; ints index lists."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.warnings: list[SyntaxWarningAt] = []

    # -- positions and errors ------------------------------------------
    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, column

    def fail(self, pos: int, path: str, reason: str) -> JSONCError:
        line, column = self.where(pos)
        return JSONCError(line, column, path, reason)

    # -- whitespace and comments ---------------------------------------
    def skip(self, path: str) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            c = text[self.pos]
            if c in " \t\r\n":
                self.pos += 1
            elif c == "#" or text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail(self.pos, path, "unterminated /* comment")
                self.pos = end + 2
            else:
                return

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    # -- values ----------------------------------------------------------
    def value(self, path: str) -> Any:
        self.skip(path)
        c = self.peek()
        if c == "{":
            return self.obj(path)
        if c == "[":
            return self.array(path)
        if c == '"':
            return self.string(path)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return val
        m = _NUMBER.match(self.text, self.pos)
        if m and m.end() > self.pos:
            self.pos = m.end()
            if m.group(1) or m.group(2):
                return float(m.group(0))
            return int(m.group(0))
        if not c:
            raise self.fail(self.pos, path, "syntax error, unexpected end of file")
        raise self.fail(self.pos, path, f"syntax error, unexpected character {c!r}")

    def string(self, path: str) -> str:
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        text = self.text
        while True:
            m = _STRING_CHUNK.match(text, self.pos)
            parts.append(m.group(0))
            self.pos = m.end()
            c = self.peek()
            if c == '"':
                self.pos += 1
                return "".join(parts)
            if c == "\\":
                esc = text[self.pos + 1 : self.pos + 2]
                if esc in _ESCAPES:
                    parts.append(_ESCAPES[esc])
                    self.pos += 2
                elif esc == "u" and re.fullmatch(
                    r"[0-9a-fA-F]{4}", text[self.pos + 2 : self.pos + 6]
                ):
                    # json handles surrogate pairs for us.
                    parts.append(json.loads('"' + text[self.pos : self.pos + 6] + '"'))
                    self.pos += 6
                else:
                    raise self.fail(self.pos, path, "bad escape sequence in string")
            elif not c:
                raise self.fail(start, path, "unterminated string")
            else:
                raise self.fail(self.pos, path, "control character in string")

    def obj(self, path: str) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        self.skip(path)
        if self.peek() == "}":
            self.pos += 1
            return result
        while True:
            self.skip(path)
            if self.peek() != '"':
                raise self.fail(self.pos, path, "syntax error, expecting a quoted map key")
            key_pos = self.pos
            key = self.string(path)
            if key in seen:
                line, column = self.where(seen[key])
                raise self.fail(
                    key_pos,
                    path,
                    f"duplicate {key} entries in JSON map (previous at {line}:{column})",
                )
            seen[key] = key_pos
            self.skip(path)
            if self.peek() != ":":
                raise self.fail(self.pos, path, 'syntax error, expecting ":"')
            self.pos += 1
            result[key] = self.value(join_path(path, key))
            if self.after_item("}", path):
                return result

    def array(self, path: str) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        self.skip(path)
        if self.peek() == "]":
            self.pos += 1
            return result
        while True:
            result.append(self.value(join_path(path, len(result))))
            if self.after_item("]", path):
                return result

    def after_item(self, close: str, path: str) -> bool:
        """Consume "," or the closing bracket; True when the container ended."""
        self.skip(path)
        c = self.peek()
        if c == close:
            self.pos += 1
            return True
        if c != ",":
            if not c:
                raise self.fail(self.pos, path, "syntax error, unexpected end of file")
            raise self.fail(self.pos, path, f'syntax error, expecting "," or {close}')
        comma = self.pos
        self.pos += 1
        self.skip(path)
        if self.peek() == close:
            line, column = self.where(comma)
            self.warnings.append(SyntaxWarningAt(line, column, path, EXTRA_COMMA))
            self.pos += 1
            return True
        return False


def loads(text: str) -> tuple[Any, tuple[SyntaxWarningAt, ...]]:
    """
    Parse C{text}; return the value and the tolerated irregularities.

    @raise JSONCError: the text is not acceptable.
    """
    reader = _Reader(text)
    value = reader.value("")
    reader.skip("")
    if reader.pos != len(text):
        # Kea's toplevel also tolerates one comma after the top map.
        if reader.peek() == ",":
            comma = reader.pos
            reader.pos += 1
            reader.skip("")
            if reader.pos == len(text):
                line, column = reader.where(comma)
                reader.warnings.append(SyntaxWarningAt(line, column, "", EXTRA_COMMA))
                return value, tuple(reader.warnings)
        raise reader.fail(reader.pos, "", "syntax error, unexpected data after the top-level value")
    return value, tuple(reader.warnings)
