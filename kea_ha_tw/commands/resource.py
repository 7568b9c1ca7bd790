# -*- test-case-name: tests.test_resource -*-
"""
The HTTP face of the command channel: one leaf resource that behaves like
Kea 2.2's HTTP listeners (C{kea-ctrl-agent}, the HA dedicated listener).

What a client sees, in the order Kea checks it (captured from Kea 2.2.0):

 1. anything but C{POST}, a missing C{Content-Length}, any
    C{Transfer-Encoding}, or a C{Content-Type} other than exactly
    C{application/json} (case-insensitive; no parameters): HTTP 400 with
    the bare map C{{ "result": 400, "text": "Bad Request" }};
 2. a body that is not JSON (Kea's reader): the same 400;
 3. basic authentication, when configured: HTTP 401 with
    C{WWW-Authenticate: Basic realm="..."} and C{{ "result": 401, "text":
    "Unauthorized" }}; nothing runs;
 4. a command outside the listener's accept list (HA C{restrict-commands}):
    HTTP 403 C{{ "result": 403, "text": "Forbidden" }};
 5. otherwise HTTP 200 and a JSON list holding one answer map, including
    envelope errors (result 1) and unknown commands (result 2); an empty
    body is answered C{"Command processing failed: NULL command parameter"}.

Every answer is written in one piece with C{Content-Length} (never chunked),
C{Content-Type: application/json} and C{Date}; bodies use Kea's JSON form.
The C{service} key is ignored, as on Kea's dedicated listener.

Listeners serve the resource through L{ControlSite}, whose lean channel
(L{kea_ha_tw.commands.http_channel}) hands it a light request; the
resource uses only C{method}, C{requestHeaders}, C{content},
C{body_too_large} (optional), C{setResponseCode}, C{setHeader},
C{responseHeaders.removeHeader}, C{write}, C{finish} and C{notifyFinish},
so it runs as well on C{twisted.web}'s C{Request} (C{StubTreq} in tests).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocolNegotiationFactory
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure
from twisted.web.http import datetimeToString
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from kea_ha_tw.commands.envelope import (
    EMPTY_BODY_TEXT,
    HTTPStatusError,
    KeaJSONError,
    answer,
    kea_json_dumps,
    kea_json_loads,
    parse_command,
    stock_http_body,
)
from kea_ha_tw.commands.http_channel import ControlHTTPChannel
from kea_ha_tw.commands.registry import CommandRegistry
from kea_ha_tw.config.model import ClientCredentials
from kea_ha_tw.errors import CommandError
from kea_ha_tw.loggers import Logger

#: Bodies above this are refused with HTTP 413 (Kea has no limit; 64 MiB is
#: far above any real command, e.g. a 10000-lease page is about 3 MiB).
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024

#: Kea's idle timeout for persistent connections (seconds).
IDLE_TIMEOUT_S = 30

_JSON = b"application/json"


def dispatch(registry: CommandRegistry, context: Any, body: bytes, element: Any) -> Deferred[dict]:
    """
    The answer to one decoded request: envelope errors and the empty body
    are answered here, everything else by C{registry}. May fail only with
    L{HTTPStatusError}.
    """
    if not body:
        return succeed(answer(1, EMPTY_BODY_TEXT))
    try:
        command = parse_command(element, body.decode("latin-1"))
    except CommandError as e:
        return succeed(answer(e.result, e.text))
    return registry.execute(command, context)


class BasicAuthenticator:
    """
    Kea's C{authentication} of type C{basic}: the C{Authorization: Basic}
    token must be one of the configured C{user:password} pairs.
    """

    _log = Logger()

    def __init__(self, realm: str, clients: Iterable[ClientCredentials]) -> None:
        self.realm = realm
        self._tokens = [
            base64.b64encode(f"{c.user}:{c.password}".encode()) for c in clients
        ]

    def challenge(self) -> bytes:
        """The C{WWW-Authenticate} value."""
        return f'Basic realm="{self.realm}"'.encode()

    def check(self, request: Any) -> bool:
        """True when C{request} carries valid credentials."""
        values = request.requestHeaders.getRawHeaders(b"authorization") or []
        if len(values) != 1:
            self._log.info("request without authentication header",
                           msg_id="HTTP_CLIENT_REQUEST_NO_AUTH_HEADER")
            return False
        scheme, _, token = values[0].strip().partition(b" ")
        token = token.strip()
        if scheme.lower() == b"basic":
            for expected in self._tokens:
                if hmac.compare_digest(token, expected):
                    return True
        self._log.info("request with wrong credentials",
                       msg_id="HTTP_CLIENT_REQUEST_NOT_AUTHORIZED")
        return False


class ControlChannelResource(Resource):
    """
    Kea's command channel over HTTP, as a leaf resource serving every path.

    @ivar registry: the L{CommandRegistry} commands run in.
    @ivar context: the L{CommandContext} handlers receive.
    """

    isLeaf = True
    _log = Logger()

    def __init__(
        self,
        registry: CommandRegistry,
        context: Any,
        *,
        authenticator: BasicAuthenticator | None = None,
        accept_commands: Iterable[str] | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        super().__init__()
        self.registry = registry
        self.context = context
        self.authenticator = authenticator
        self.accept_commands = frozenset(accept_commands) if accept_commands is not None else None
        self.max_body_size = max_body_size

    def render(self, request: Any) -> bytes | int:
        """Answer any method (Kea answers everything but POST with 400)."""
        status = self._http_status(request)
        if status:
            return self._write(request, status, stock_http_body(status))
        request.content.seek(0)
        body = request.content.read()
        element = None
        if body:
            try:
                element = kea_json_loads(body)
            except KeaJSONError:
                return self._write(request, 400, stock_http_body(400))
        if self.authenticator is not None and not self.authenticator.check(request):
            request.setHeader(b"www-authenticate", self.authenticator.challenge())
            return self._write(request, 401, stock_http_body(401))
        if self._filtered(element):
            self._log.info("command {command} not accepted on this listener",
                           msg_id="CMD_RESPONSE_CREATOR_COMMAND_FILTERED",
                           command=str(element.get("command")))
            return self._write(request, 403, stock_http_body(403))

        d = dispatch(self.registry, self.context, body, element)
        gone: list[object] = []
        if not d.called or d.paused:
            # Answered later: the client may go away meanwhile. (Lease
            # updates and most commands answer at once and skip this.)
            request.notifyFinish().addBoth(gone.append)

        def done(result: dict) -> None:
            if not gone:
                self._write(request, 200, [result])

        def failed(failure: Failure) -> None:
            status = failure.value.status if failure.check(HTTPStatusError) else 500
            if status == 500 and not failure.check(HTTPStatusError):
                self._log.failure("command dispatch failed", failure,
                                  msg_id="COMMAND_PROCESS_ERROR2")
            if not gone:
                self._write(request, status, stock_http_body(status))

        d.addCallbacks(done, failed)
        return NOT_DONE_YET

    def _http_status(self, request: Any) -> int:
        headers = request.requestHeaders
        if request.method != b"POST":
            return 400
        if headers.hasHeader(b"transfer-encoding") or not headers.hasHeader(b"content-length"):
            return 400
        types = headers.getRawHeaders(b"content-type") or []
        if len(types) != 1 or types[0].strip().lower() != _JSON:
            return 400
        if getattr(request, "body_too_large", False):
            return 413
        try:
            length = int(headers.getRawHeaders(b"content-length")[0])
        except ValueError:
            return 400
        if length > self.max_body_size:
            return 413
        return 0

    def _filtered(self, element: Any) -> bool:
        if self.accept_commands is None or not isinstance(element, dict):
            return False
        name = element.get("command")
        return isinstance(name, str) and name not in self.accept_commands

    @staticmethod
    def _write(request: Any, status: int, value: Any) -> int:
        body = _encode_answer(value)
        request.setResponseCode(status)
        request.responseHeaders.removeHeader(b"server")
        request.setHeader(b"content-type", _JSON)
        request.setHeader(b"content-length", str(len(body)).encode("ascii"))
        request.write(body)
        request.finish()
        return NOT_DONE_YET


#: Encoded bodies of answers without arguments (HA's lease updates answer
#: the same few texts thousands of times per second).
_SIMPLE_ANSWERS: dict[tuple[int, str], bytes] = {}
_SIMPLE_ANSWERS_MAX = 256


def _encode_answer(value: Any) -> bytes:
    """C{value} in Kea's JSON form; one-answer lists without arguments come from a cache."""
    if type(value) is list and len(value) == 1:
        answer_ = value[0]
        if type(answer_) is dict and len(answer_) == 2:
            result, text = answer_.get("result"), answer_.get("text")
            if type(result) is int and type(text) is str:
                key = (result, text)
                body = _SIMPLE_ANSWERS.get(key)
                if body is None:
                    body = kea_json_dumps(value).encode("ascii")
                    if len(_SIMPLE_ANSWERS) < _SIMPLE_ANSWERS_MAX:
                        _SIMPLE_ANSWERS[key] = body
                return body
    return kea_json_dumps(value).encode("ascii")


@implementer(IProtocolNegotiationFactory)
class ControlSite(Factory):
    """
    The factory of a command listener: a L{ControlHTTPChannel} per
    connection serving C{resource}, Kea's 30 s idle timeout on C{reactor}'s
    clock, and no access log (commands are logged by the registry).
    """

    noisy = False

    def __init__(self, resource: ControlChannelResource, reactor: Any,
                 timeout: float = IDLE_TIMEOUT_S) -> None:
        self.resource = resource
        self.reactor = reactor
        self.timeout = timeout
        self.max_body_size = getattr(resource, "max_body_size", DEFAULT_MAX_BODY_SIZE)
        self._date_second = -1
        self._date = b""

    def buildProtocol(self, addr: Any) -> ControlHTTPChannel:  # noqa: N802 - Twisted API
        """A lean HTTP/1.1 channel for one connection."""
        return ControlHTTPChannel(self)

    def date(self) -> bytes:
        """The C{Date} value (RFC 1123) of the clock's second, formatted once per second."""
        second = int(self.reactor.seconds())
        if second != self._date_second:
            self._date_second = second
            self._date = datetimeToString(second)
        return self._date

    def acceptableProtocols(self) -> list[bytes]:  # noqa: N802 - Twisted API
        """HTTP/1.1 only (for ALPN)."""
        return [b"http/1.1"]
