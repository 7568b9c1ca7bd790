"""
A scriptable stand-in for a Kea HA peer's HTTP endpoint, for StubTreq
tests of the HA wire code: it records every request as received and
answers per command with canned Kea answers, raw bytes, a hang (never
answers), a chunked body, or a dropped connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from kea_ha_tw.config.model import PeerConfig

#: Answer marker: keep the request open forever (a timeout test).
HANG = object()
#: Answer marker: drop the TCP connection without answering.
DROP = object()


@dataclass
class Chunked:
    """Answer marker: send C{body} without Content-Length (chunked)."""

    body: bytes


@dataclass
class Raw:
    """Answer marker: send C{body} as is, with HTTP status C{code}."""

    body: bytes
    code: int = 200


@dataclass
class Received:
    """One request as the peer saw it."""

    method: bytes
    path: bytes
    headers: dict[bytes, list[bytes]]
    body: bytes
    parsed: Any = field(default=None)

    @property
    def command(self) -> str | None:
        """The C{command} of the request."""
        return self.parsed.get("command") if isinstance(self.parsed, dict) else None

    @property
    def arguments(self) -> Any:
        """The C{arguments} of the request (None when absent)."""
        return self.parsed.get("arguments") if isinstance(self.parsed, dict) else None

    def header(self, name: bytes) -> bytes | None:
        """The single value of header C{name}, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


def ok(text: str = "ok", arguments: Any = None, result: int = 0) -> list[dict[str, Any]]:
    """A Kea answer list."""
    answer: dict[str, Any] = {"result": result, "text": text}
    if arguments is not None:
        answer["arguments"] = arguments
    return [answer]


class InOrder:
    """Answers consumed one per request; the last one sticks."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def next(self) -> Any:
        """The answer for the next request."""
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class FakeKeaPeer(Resource):
    """
    A peer endpoint. C{answers[command]} is an answer, an L{InOrder} of
    answers, or a callable C{(arguments) -> answer}. An answer is a
    JSON-able object (sent as JSON), or L{Raw}, L{Chunked}, L{HANG},
    L{DROP}. Commands without an entry get C{default(command, arguments)}.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self.answers: dict[str, Any] = {}
        self.default: Callable[[str, Any], Any] = lambda command, args: ok()
        self.hung: list[Any] = []

    def release(self, answer: Any = None, index: int = 0) -> None:
        """Answer the C{index}-th hung request now (then C{StubTreq.flush()})."""
        request = self.hung.pop(index)
        body = json.dumps(ok() if answer is None else answer).encode("utf-8")
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"content-length", str(len(body)).encode("ascii"))
        request.write(body)
        request.finish()

    def commands(self) -> list[str | None]:
        """The commands received, in order."""
        return [r.command for r in self.received]

    def _answer_for(self, command: str | None, arguments: Any) -> Any:
        spec = self.answers.get(command) if command is not None else None
        if spec is None:
            return self.default(command, arguments)
        if isinstance(spec, InOrder):
            spec = spec.next()
        if callable(spec):
            return spec(arguments)
        return spec

    def render_POST(self, request: Any) -> Any:  # noqa: N802 - twisted.web API
        """Record the request and answer as scripted."""
        body = request.content.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        headers = {k.lower(): list(v) for k, v in request.requestHeaders.getAllRawHeaders()}
        self.received.append(Received(request.method, request.uri, headers, body, parsed))
        command = parsed.get("command") if isinstance(parsed, dict) else None
        arguments = parsed.get("arguments") if isinstance(parsed, dict) else None
        answer = self._answer_for(command, arguments)
        if answer is HANG:
            self.hung.append(request)
            return NOT_DONE_YET
        if answer is DROP:
            request.channel.transport.abortConnection()
            return NOT_DONE_YET
        request.setHeader(b"content-type", b"application/json")
        if isinstance(answer, Chunked):
            request.write(answer.body)
            request.finish()
            return NOT_DONE_YET
        if isinstance(answer, Raw):
            request.setResponseCode(answer.code)
            return answer.body
        return json.dumps(answer).encode("utf-8")


def peer_config(
    name: str = "server2",
    role: str = "secondary",
    host: str = "127.0.0.2",
    port: int = 8001,
    scheme: str = "http",
    **kwargs: Any,
) -> PeerConfig:
    """A PeerConfig as the loader would produce it."""
    return PeerConfig(
        name=name,
        url=f"{scheme}://{host}:{port}/",
        scheme=scheme,
        host=host,
        port=port,
        role=role,
        **kwargs,
    )
