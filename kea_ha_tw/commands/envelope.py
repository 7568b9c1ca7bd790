# -*- test-case-name: tests.test_envelope -*-
"""
Kea's command envelope and JSON dialect, as pure functions.

Kea 2.2 (C{libkea-cc}) has its own JSON reader and writer, and operators,
C{kea-shell} and HA peers see their quirks:

 - the writer sorts map keys and puts spaces inside braces and brackets
   (C{{ "a": 1 }}, C{[ 1, 2 ]}, C{{  }}, C{[  ]}); doubles print like C++
   C{ostream} (six significant digits, C{.0} appended when there is no
   point; not after an exponent, where Kea's C{1e+300.0} would be
   unreadable); strings are byte strings and every byte outside 0x20..0x7e is
   written as C{\\u00XX} (so UTF-8 text goes out one escape per byte);
 - the reader treats strings as bytes too (C{\\u00XX} is one byte; an
   escape above C{\\u00ff} is an error; bytes that are not UTF-8 stay as
   surrogate escapes), rejects integers outside int64,
   and records where every element starts, which argument errors quote as
   C{(<wire>:LINE:COL)}.

L{kea_json_dumps} / L{kea_json_loads} reproduce this; L{kea_json_pretty} is
the indented form C{config-write} uses. L{parse_command} checks the
envelope (C{command}, C{arguments}, C{service}, C{remote-address}) with
Kea's texts, and L{PositionedError} lets a handler say "the element at this
path is wrong" while the registry fills in Kea's position text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from typing import Any

from kea_ha_tw.errors import CommandError, KeaHAError

# --------------------------------------------------------------------------
# answers

#: The top-level keys Kea accepts in a command (config/command_interpreter).
COMMAND_KEYS = frozenset({"command", "arguments", "service", "remote-address"})

#: Kea's HTTP stock answers: status -> reason phrase (body is a bare map).
HTTP_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

#: The text when the answer to a command is the empty body (Kea's HTTP layer).
EMPTY_BODY_TEXT = "Command processing failed: NULL command parameter"

_PROCESSING = "Error during command processing: "


def answer(result: int, text: str | None = None, arguments: Any = None) -> dict[str, Any]:
    """
    A Kea answer map: C{result}, then C{text} and C{arguments} only when
    given (Kea omits them, e.g. C{list-commands} has no text).
    """
    out: dict[str, Any] = {"result": result}
    if text is not None:
        out["text"] = text
    if arguments is not None:
        out["arguments"] = arguments
    return out


def stock_http_body(status: int) -> dict[str, Any]:
    """Kea's body for an HTTP-level error: C{{"result": 400, "text": "Bad Request"}}."""
    return {"result": status, "text": HTTP_REASONS.get(status, "Error")}


class HTTPStatusError(KeaHAError):
    """
    Raised by a handler that must fail at the HTTP level, as Kea does when a
    hook callout throws without setting a response (HTTP 500 with the stock
    C{{ "result": 500, "text": "Internal Server Error" }} map).
    """

    def __init__(self, status: int = 500) -> None:
        super().__init__(HTTP_REASONS.get(status, str(status)))
        self.status = status


class PositionedError(CommandError):
    """
    A C{CommandError} whose text quotes where an element sits in the request,
    as Kea's C{SimpleParser} does: C{"missing parameter 'ip-address'
    (<wire>:0:37)"}.

    @ivar template: the text with a C{{pos}} placeholder.
    @ivar path: keys/indices from the command's C{arguments} element down
        to the element the position is taken from (C{()} = C{arguments}).
    """

    def __init__(self, template: str, path: tuple[Any, ...] = (), result: int = 1) -> None:
        super().__init__(result, template.replace("{pos}", "<string>:0:0"))
        self.template = template
        self.path = tuple(path)

    def render(self, command: Command) -> str:
        """The text with the position of C{path} inside C{command}."""
        return self.template.replace("{pos}", command.position(("arguments",) + self.path))


# --------------------------------------------------------------------------
# JSON writer

_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\uffff]')
_SHORT_ESCAPES = {
    0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
}
_BYTE_ESCAPES = [
    _SHORT_ESCAPES.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\u{b:04x}") for b in range(256)
]


def _dump_string(s: str) -> str:
    if _NEEDS_ESCAPE.search(s) is None:
        return '"' + s + '"'
    raw = s.encode("utf-8", "surrogateescape")
    return '"' + "".join([_BYTE_ESCAPES[b] for b in raw]) + '"'


def _dump_float(f: float) -> str:
    # Kea appends ".0" even after an exponent ("1e+300.0"), which no JSON
    # reader (Kea's included) accepts; we leave exponents alone.
    text = format(f, ".6g")
    return text if "." in text or "e" in text or "n" in text else text + ".0"


def _dump_map(value: Mapping) -> str:
    if not value:
        return "{  }"
    return "{ " + ", ".join(
        [_dump_string(k) + ": " + _dump(value[k]) for k in sorted(value)]
    ) + " }"


def _dump_list(value: list | tuple) -> str:
    if not value:
        return "[  ]"
    return "[ " + ", ".join([_dump(v) for v in value]) + " ]"


_BY_TYPE: dict[type, Any] = {
    str: _dump_string,
    int: int.__repr__,
    bool: lambda v: "true" if v else "false",
    type(None): lambda v: "null",
    float: _dump_float,
    dict: _dump_map,
    list: _dump_list,
    tuple: _dump_list,
}


def _dump(value: Any) -> str:
    writer = _BY_TYPE.get(type(value))
    if writer is not None:
        return writer(value)
    # Subclasses (IntEnum, other mappings): the slower way.
    if isinstance(value, str):
        return _dump_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _dump_float(value)
    if isinstance(value, Mapping):
        return _dump_map(value)
    if isinstance(value, (list, tuple)):
        return _dump_list(value)
    raise TypeError(f"cannot write {type(value).__name__} as Kea JSON")


def kea_json_dumps(value: Any) -> str:
    """
    C{value} in Kea's compact JSON form (C{Element::str()}): keys sorted,
    C{{ "a": 1 }}, C{[  ]} for an empty list, bytes >= 0x7f as C{\\u00XX}.
    The result is pure ASCII.
    """
    return _dump(value)


def kea_json_pretty(value: Any, indent: int = 0, step: int = 2) -> str:
    """
    C{value} the way Kea's C{prettyPrint} writes a configuration file: one
    map entry per line, lists of scalars on one line (C{[ "a", "b" ]},
    C{[ ]}), lists of maps or lists one element per line.
    """
    pad = " " * (indent + step)
    if isinstance(value, Mapping):
        if not value:
            return "{ }"
        items = [pad + _dump_string(k) + ": " + kea_json_pretty(value[k], indent + step, step)
                 for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[ ]"
        if isinstance(value[0], (Mapping, list, tuple)):
            items = [pad + kea_json_pretty(v, indent + step, step) for v in value]
            return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
        return "[ " + ", ".join([_dump(v) for v in value]) + " ]"
    return _dump(value)


# --------------------------------------------------------------------------
# JSON reader

_INT64 = (-(2**63), 2**63 - 1)


class KeaJSONError(ValueError):
    """The text is not JSON Kea's reader would accept."""


def _parse_int(text: str) -> int:
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise KeaJSONError(f"Number overflow: {text}")
    return value


def _reject_constant(name: str) -> Any:
    raise KeaJSONError(f"invalid constant {name}")


def _as_kea_string(s: str) -> str:
    # s holds one code point per byte (the body was read as latin-1 and
    # \u00XX escapes give one code point each): rebuild Kea's byte string
    # and read it as UTF-8; bytes that are not UTF-8 stay as surrogate
    # escapes (as in the lease file codec), so they are written back as sent.
    if s.isascii():
        return s
    try:
        raw = s.encode("latin-1")
    except UnicodeEncodeError:
        raise KeaJSONError("Unsupported unicode escape") from None
    return raw.decode("utf-8", "surrogateescape")


# One decoder, built once (json.loads with hooks builds a new one per call).
_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_constant=_reject_constant, strict=False)


def _fix_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _as_kea_string(value)
    if isinstance(value, dict):
        return {_as_kea_string(k): _fix_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_strings(v) for v in value]
    return value


def kea_json_loads(data: bytes | str) -> Any:
    """
    Read JSON with Kea's rules: strings are byte strings (raw UTF-8 and
    C{\\u00c3\\u00a9} both give C{"é"}; an escape above C{\\u00ff} fails),
    integers must fit int64, NaN/Infinity are refused, duplicate keys keep
    the last value. Raises L{KeaJSONError} (a ValueError) on bad input.
    """
    text = data.decode("latin-1") if isinstance(data, (bytes, bytearray)) else data
    try:
        value = _DECODER.decode(text)
    except KeaJSONError:
        raise
    except ValueError as e:
        raise KeaJSONError(str(e)) from None
    if text.isascii() and "\\u" not in text:
        return value
    return _fix_strings(value)


# --------------------------------------------------------------------------
# element positions, computed only when an error text needs one

_WS = " \t\r\n"


class _Scanner:
    """Walks JSON text counting lines and columns the way Kea's reader does."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 0
        self.col = 0

    def _advance(self) -> str:
        c = self.text[self.i]
        self.i += 1
        if c == "\n":
            self.line += 1
            self.col = 1
        else:
            self.col += 1
        return c

    def _skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _WS:
            self._advance()

    def _peek(self) -> str:
        if self.i >= len(self.text):
            raise KeaJSONError("unexpected end of text")
        return self.text[self.i]

    def _string(self) -> str:
        self._advance()  # opening quote
        start = self.i
        while True:
            c = self._advance()
            if c == "\\":
                self._advance()
            elif c == '"':
                return json.loads(self.text[start - 1:self.i])

    def _skip_value(self) -> None:
        c = self._peek()
        if c == "{":
            self._advance()
            self._skip_ws()
            if self._peek() == "}":
                self._advance()
                return
            while True:
                self._skip_ws()
                self._string()
                self._skip_ws()
                self._advance()  # ':'
                self._skip_ws()
                self._skip_value()
                self._skip_ws()
                if self._advance() == "}":
                    return
        elif c == "[":
            self._advance()
            self._skip_ws()
            if self._peek() == "]":
                self._advance()
                return
            while True:
                self._skip_ws()
                self._skip_value()
                self._skip_ws()
                if self._advance() == "]":
                    return
        elif c == '"':
            self._string()
        else:
            while self.i < len(self.text) and self.text[self.i] not in _WS + ",]}":
                self._advance()

    def find(self, path: tuple[Any, ...]) -> tuple[int, int]:
        """(line, column) of the element at C{path} (Kea's convention)."""
        self._skip_ws()
        for step in path:
            c = self._peek()
            if c == "{":
                self._advance()
                found = None
                self._skip_ws()
                if self._peek() == "}":
                    raise KeyError(step)
                while True:
                    self._skip_ws()
                    key = self._string()
                    self._skip_ws()
                    self._advance()  # ':'
                    self._skip_ws()
                    if key == step:
                        # Kea keeps the last of duplicate keys.
                        found = (self.i, self.line, self.col)
                    self._skip_value()
                    self._skip_ws()
                    if self._advance() == "}":
                        break
                if found is None:
                    raise KeyError(step)
                self.i, self.line, self.col = found
            elif c == "[":
                self._advance()
                for _ in range(int(step)):
                    self._skip_ws()
                    self._skip_value()
                    self._skip_ws()
                    self._advance()  # ','
                self._skip_ws()
            else:
                raise KeyError(step)
        if self.i < len(self.text) and self.text[self.i] in "{[":
            return self.line, self.col + 1
        return self.line, self.col


def element_position(text: str | None, path: Iterable[Any], source: str = "<wire>") -> str:
    """
    Where the element at C{path} starts in C{text}, as Kea prints it:
    C{"<wire>:LINE:COL"}. Lines count from 0; on line 0 the column is the
    number of characters before the element, after a newline it counts
    from 1; a map or list is placed just after its opening bracket.
    C{"<string>:0:0"} when C{text} is unknown or has no such element.
    """
    if text is None:
        return "<string>:0:0"
    try:
        line, col = _Scanner(text).find(tuple(path))
    except (KeyError, IndexError, ValueError):
        return "<string>:0:0"
    return f"{source}:{line}:{col}"


# --------------------------------------------------------------------------
# the envelope


@dataclass(frozen=True)
class Command:
    """
    One parsed control command.

    @ivar name: the C{command} string.
    @ivar arguments: the C{arguments} value, or None when absent.
    @ivar service: the C{service} value as sent (ignored, as on Kea's
        dedicated listener), or None.
    @ivar remote_address: C{remote-address} as sent, or None.
    @ivar text: the JSON text the command came from (for positions).
    """

    name: str
    arguments: Any = None
    service: Any = None
    remote_address: Any = None
    text: str | None = None

    def position(self, path: Iterable[Any] = ()) -> str:
        """Kea's C{<wire>:LINE:COL} of the element at C{path} in this command."""
        return element_position(self.text, path)

    def error_text(self, error: CommandError) -> str:
        """C{error}'s text, with the position filled in for a L{PositionedError}."""
        if isinstance(error, PositionedError):
            return error.render(self)
        return error.text


def parse_command(element: Any, text: str | None = None) -> Command:
    """
    Check a decoded command the way Kea's C{parseCommand} does and return it.

    @raise CommandError: result 1 with Kea's text: not a map, no
        C{command}, an unsupported top-level key (the first in sorted
        order), or a C{command} that is not a string.
    """
    if not isinstance(element, dict):
        raise CommandError(1, _PROCESSING + "Invalid command Element specified, expected map")
    if "command" not in element:
        raise CommandError(
            1, _PROCESSING + "Invalid answer specified, does not contain mandatory 'command'"
        )
    for key in sorted(element):
        if key not in COMMAND_KEYS:
            raise CommandError(
                1, _PROCESSING + f"Received command contains unsupported parameter '{key}'"
            )
    name = element["command"]
    if not isinstance(name, str):
        raise CommandError(1, _PROCESSING + "'command' element in command message is not a string")
    return Command(
        name=name,
        arguments=element.get("arguments"),
        service=element.get("service"),
        remote_address=element.get("remote-address"),
        text=text,
    )


def decode_command(body: bytes) -> Command:
    """
    Decode and check an HTTP or unix-socket body.

    @raise KeaJSONError: the body is not JSON (HTTP answers 400).
    @raise CommandError: Kea's envelope errors (HTTP answers 200 with the
        error in a list); an empty body gives L{EMPTY_BODY_TEXT}.
    """
    if not body:
        raise CommandError(1, EMPTY_BODY_TEXT)
    element = kea_json_loads(body)
    return parse_command(element, body.decode("latin-1"))


def make_command(name: str, arguments: Any = None,
                 service: Iterable[str] | None = None) -> dict[str, Any]:
    """A command map as Kea's C{createCommand} builds it (for outbound requests)."""
    out: dict[str, Any] = {"command": name}
    if arguments is not None:
        out["arguments"] = arguments
    if service is not None:
        out["service"] = list(service)
    return out


__all__ = [
    "COMMAND_KEYS", "EMPTY_BODY_TEXT", "HTTP_REASONS", "Command", "HTTPStatusError",
    "KeaJSONError", "PositionedError", "answer", "decode_command", "element_position",
    "kea_json_dumps", "kea_json_loads", "kea_json_pretty", "make_command", "parse_command",
    "stock_http_body",
]
