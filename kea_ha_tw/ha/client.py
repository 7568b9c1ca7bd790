# -*- test-case-name: tests.test_peer_client -*-
"""
Sending Kea control commands to one HA peer, exactly as Kea 2.2's HA
client does.

The request is C{POST /} with the body
C{{ "arguments": ..., "command": "...", "service": [ "dhcp4" ] }} in Kea's
JSON serialization, C{Content-Type: application/json}, a C{Content-Length}
and, when the peer has a C{basic-auth-user}, an C{Authorization: Basic}
header. The answer is checked the way Kea's C{verifyAsyncResponse} checks
it: the body must be a JSON list (a bare map is an error carrying its
C{text}), only element 0 counts, results 0 and 3 are success, 2 is
"unsupported", anything else is an error. The HTTP status code is never
looked at.

Transport problems (refused, reset, timeout on the injected clock, a body
that is not JSON, a response without C{Content-Length}) fail with
L{PeerCommunicationError}; Kea-level errors with L{PeerCommandError}
(L{PeerCommandUnsupported} for result 2).

L{make_peer_http_client} builds the production HTTP client: the lean
L{kea_ha_tw.ha.peer_http.PeerHTTPPool} (keep-alive, several connections per
peer so that lease updates go out concurrently, TCP_NODELAY) with Kea-style
TLS client contexts. Any treq-like client works too (C{StubTreq} in tests).
"""

from __future__ import annotations

import base64
import os
from typing import Any
from collections.abc import Sequence

from OpenSSL import SSL
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IReactorTime
from twisted.internet.ssl import (
    Certificate,
    CertificateOptions,
    PrivateCertificate,
    trustRootFromCertificates,
)
from twisted.python.failure import Failure
from twisted.python.filepath import FilePath
from twisted.web._newclient import (
    RequestNotSent,
    RequestTransmissionFailed,
    ResponseNeverReceived,
)
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IPolicyForHTTPS
from zope.interface import implementer

from kea_ha_tw.commands.envelope import kea_json_dumps, kea_json_loads
from kea_ha_tw.config.model import HAConfig, PeerConfig, TLSConfig
from kea_ha_tw.errors import (
    CONTROL_RESULT_COMMAND_UNSUPPORTED,
    CONTROL_RESULT_EMPTY,
    CONTROL_RESULT_ERROR,
    CONTROL_RESULT_SUCCESS,
    PeerCommandError,
    PeerCommunicationError,
)
from kea_ha_tw.ha.peer_http import PeerHTTPPool
from kea_ha_tw.interfaces import IPeerClient
from kea_ha_tw.loggers import Logger

# Kea's TIMEOUT_DEFAULT_HTTP_CLIENT_REQUEST (src/lib/config/timeouts.h).
DEFAULT_TIMEOUT_S = 10.0

class PeerCommandUnsupportedError(PeerCommandError):
    """The peer answered result 2: it does not know the command."""


#: The short name used across the HA code.
PeerCommandUnsupported = PeerCommandUnsupportedError


def kea_error_message(error: BaseException | Failure) -> str:
    """
    The error message Kea's HA client would record for a failed peer
    command: C{"<text>, error code <n>"} for a Kea-level error (just
    C{"error code <n>"} without a text), the reason for a transport error.
    """
    if isinstance(error, Failure):
        error = error.value
    if isinstance(error, PeerCommandError):
        if error.text:
            return f"{error.text}, error code {error.result}"
        return f"error code {error.result}"
    if isinstance(error, PeerCommunicationError):
        return error.reason
    return str(error)


def encode_command(command: str, arguments: Any = None, service: str | None = "dhcp4") -> bytes:
    """
    The request body Kea's HA client sends: keys sorted, Kea spacing,
    C{service} always present (unless C{service} is None).
    """
    body: dict[str, Any] = {"command": command}
    if arguments is not None:
        body["arguments"] = arguments
    if service is not None:
        body["service"] = [service]
    return kea_json_dumps(body).encode("utf-8")


def parse_answer(peer: str, body: bytes) -> dict[str, Any]:
    """
    Check a peer's response body like Kea's C{verifyAsyncResponse} and
    return answer element 0 (a map whose C{result} is 0 or 3).

    @raise PeerCommunicationError: the body is not JSON.
    @raise PeerCommandUnsupported: result 2.
    @raise PeerCommandError: any other non-success result, a bare map
        body (result 1 with the map's text), an empty list, or a body that
        is neither list nor map.
    """
    try:
        parsed = kea_json_loads(body)
    except ValueError as e:
        raise PeerCommunicationError(peer, f"invalid JSON in the response: {e}") from None
    if isinstance(parsed, dict):
        # Control agent / HTTP-level errors come as a bare map: Kea turns
        # them into result 1 with the map's text.
        text = parsed.get("text")
        raise PeerCommandError(peer, CONTROL_RESULT_ERROR, text if isinstance(text, str) else "")
    if not isinstance(parsed, list):
        raise PeerCommandError(peer, CONTROL_RESULT_ERROR, "body of the response must be a list")
    if not parsed:
        raise PeerCommandError(peer, CONTROL_RESULT_ERROR, "list of responses must not be empty")
    return check_answer(peer, parsed[0])


def check_answer(peer: str, answer: Any) -> dict[str, Any]:
    """
    Check one answer map like Kea's C{parseAnswer} and return it when its
    result is 0 or 3 (also used for each item of a batch answer).

    @raise PeerCommandUnsupported: result 2.
    @raise PeerCommandError: any other result, or not an answer map.
    """
    if not isinstance(answer, dict):
        raise PeerCommandError(
            peer, CONTROL_RESULT_ERROR, "Invalid answer Element specified, expected map"
        )
    result = answer.get("result")
    if result is None:
        raise PeerCommandError(
            peer, CONTROL_RESULT_ERROR,
            "Invalid answer specified, does not contain mandatory 'result'",
        )
    if not isinstance(result, int) or isinstance(result, bool):
        raise PeerCommandError(
            peer, CONTROL_RESULT_ERROR,
            "Result element in answer message is expected to be of type integer",
        )
    if result in (CONTROL_RESULT_SUCCESS, CONTROL_RESULT_EMPTY):
        return answer
    text = answer.get("text")
    # Kea includes the text only when the answer has no arguments.
    if "arguments" in answer or not isinstance(text, str):
        text = ""
    if result == CONTROL_RESULT_COMMAND_UNSUPPORTED:
        raise PeerCommandUnsupportedError(peer, result, text)
    raise PeerCommandError(peer, result, text)


def peer_base_url(peer: PeerConfig) -> str:
    """The URL Kea posts to: scheme, host and port of C{url}, path C{/}."""
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    return f"{peer.scheme}://{host}:{peer.port}/"


def _describe(failure: Failure) -> str:
    value = failure.value
    reasons = getattr(value, "reasons", None)
    if reasons:
        return "; ".join(_describe(r) for r in reasons)
    text = str(value)
    return text if text else type(value).__name__


_RETRYABLE = (ResponseNeverReceived, RequestNotSent, RequestTransmissionFailed)


@implementer(IPeerClient)
class PeerClient:
    """
    Sends Kea commands to one peer over an injected treq-like HTTP client
    (C{treq.client.HTTPClient} in production, C{StubTreq} in tests).

    A request that dies on a reused keep-alive connection before any
    response byte arrived (the peer closed the idle connection as we
    wrote) is sent once more on a fresh connection; every command the HA
    client sends is idempotent.

    @ivar name: the peer's name.
    @ivar peer: the peer's configuration.
    """

    _log = Logger()

    def __init__(
        self,
        peer: PeerConfig,
        http_client: Any,
        clock: IReactorTime,
        service: str = "dhcp4",
    ) -> None:
        self.peer = peer
        self.name = peer.name
        self._http = http_client
        self._clock = clock
        self._service = service
        self._url = peer_base_url(peer)
        raw: dict[bytes, list[bytes]] = {b"Content-Type": [b"application/json"]}
        if peer.basic_auth_user:
            token = base64.b64encode(
                f"{peer.basic_auth_user}:{peer.basic_auth_password}".encode()
            )
            raw[b"Authorization"] = [b"Basic " + token]
        self._raw_headers = raw
        prepare = getattr(http_client, "sender", None)
        authorization = raw.get(b"Authorization", [None])[0]
        self._sender = prepare(self._url, authorization) if prepare is not None else None

    @property
    def queued(self) -> int:
        """Requests waiting for a free connection (0 without the lean pool)."""
        sender = self._sender
        return sender.queued if sender is not None else 0

    def encode(self, command: str, arguments: Any = None) -> bytes:
        """The request body for C{command} (shareable between peers)."""
        return encode_command(command, arguments, self._service)

    def send_command(
        self, command: str, arguments: Any = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> Deferred:
        """
        POST C{command}; fire with the answer's C{arguments} (None when
        absent) for result 0 or 3.
        """
        d = self.send_encoded(self.encode(command, arguments), command, timeout_s)
        d.addCallback(lambda answer: answer.get("arguments"))
        return d

    def send_command_answer(
        self, command: str, arguments: Any = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> Deferred:
        """POST C{command}; fire with answer element 0 (result 0 or 3)."""
        return self.send_encoded(self.encode(command, arguments), command, timeout_s)

    def send_encoded(
        self, body: bytes, command: str, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> Deferred:
        """
        POST an already encoded request C{body} (see L{encode}); fire with
        answer element 0. C{command} is only used for logging.
        """
        d = self._post(body, retry=True)
        d.addTimeout(timeout_s, self._clock, onTimeoutCancel=self._timed_out)
        d.addErrback(self._translate, command, timeout_s)
        return d

    def _timed_out(self, result: Any, timeout_s: float) -> Failure:
        if isinstance(result, Failure) and not result.check(CancelledError, *_RETRYABLE):
            return result
        return Failure(TimeoutError(f"Connection timed out after {timeout_s:g} s"))

    def _post(self, body: bytes, retry: bool) -> Deferred:
        sender = self._sender
        if sender is not None:
            # The lean pool retries a stale connection itself.
            return sender.send(sender.encode(body)).addCallback(self._read)
        d = self._http.request(
            "POST",
            self._url,
            data=body,
            headers=Headers(self._raw_headers),
            allow_redirects=False,
            reactor=self._clock,
        )
        d.addCallback(self._read)
        if retry:
            d.addErrback(self._maybe_retry, body)
        return d

    def _maybe_retry(self, failure: Failure, body: bytes) -> Any:
        failure.trap(*_RETRYABLE)
        reasons = getattr(failure.value, "reasons", ())
        if any(r.check(CancelledError) for r in reasons):
            return failure
        self._log.debug(
            "{peer}: request failed on a reused connection ({reason}); retrying once",
            peer=self.name, reason=_describe(failure),
        )
        return self._post(body, retry=False)

    def _read(self, response: Any) -> Deferred:
        known_length = response.length is not UNKNOWN_LENGTH
        d = response.content()

        def check(body: bytes) -> dict[str, Any]:
            if not known_length:
                # Kea's HTTP client rejects chunked and close-delimited bodies.
                raise PeerCommunicationError(self.name, "response without Content-Length")
            return parse_answer(self.name, body)

        d.addCallback(check)
        return d

    def _translate(self, failure: Failure, command: str, timeout_s: float) -> Failure:
        if failure.check(PeerCommandError):
            self._log.debug(
                "{peer}: {command} answered {result}: {text}",
                peer=self.name, command=command,
                result=failure.value.result, text=failure.value.text,
            )
            return failure
        if failure.check(PeerCommunicationError):
            error = failure.value
        elif failure.check(TimeoutError, CancelledError):
            error = PeerCommunicationError(
                self.name, f"Connection timed out ({command}, {timeout_s:g} s)"
            )
        else:
            error = PeerCommunicationError(self.name, _describe(failure))
        self._log.debug(
            "{peer}: {command} failed: {reason}",
            peer=self.name, command=command, reason=error.reason,
        )
        return Failure(error)


def make_peer_clients(
    ha: HAConfig, http_client: Any, clock: IReactorTime, service: str = "dhcp4"
) -> dict[str, PeerClient]:
    """One L{PeerClient} per peer other than this server, by name."""
    return {
        p.name: PeerClient(p, http_client, clock, service)
        for p in ha.peers
        if p.name != ha.this_server_name
    }


def peer_connections(ha: HAConfig, cpu_count: int | None = None) -> int:
    """
    Requests sent to one peer at once: HA C{multi-threading}'s
    C{http-client-threads}, or, when it is 0 (Kea's default, meaning one
    thread per CPU), the number of CPUs and at least 2. Kea's own client
    keeps one connection per client thread; more connections than the
    partner has listener threads only queue on its side (bench: a Kea
    standby behind 8 connections from us ran less steadily than behind 2).
    """
    threads = ha.multi_threading.http_client_threads
    if threads > 0:
        return threads
    return max(2, cpu_count if cpu_count is not None else (os.cpu_count() or 2))


def make_peer_http_client(
    reactor: Any,
    peers: Sequence[PeerConfig],
    tls: TLSConfig | None = None,
    connections_per_peer: int = 8,
    idle_timeout_s: float = 20.0,
) -> PeerHTTPPool:
    """
    The production HTTP client for peer traffic: a L{PeerHTTPPool} of
    persistent connections (see L{kea_ha_tw.ha.peer_http}).

    @param peers: every peer that will be contacted; C{https} peers get a
        TLS client context from their C{trust-anchor}/C{cert-file}/
        C{key-file} (or the relationship-level C{tls}).
    @param connections_per_peer: persistent connections kept per peer,
        like Kea's C{http-client-threads}: this many requests go out at once.
    @param idle_timeout_s: idle connections are closed by us after this
        long, below the 30 s after which Kea's listener closes them, so we
        rarely write into a connection Kea is closing.
    """
    policy = KeaTLSPolicy(peers, tls)
    return PeerHTTPPool(reactor, policy.creatorForNetloc,
                        connections_per_peer=connections_per_peer,
                        idle_timeout_s=idle_timeout_s)


_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


def _pem_certificates(data: bytes) -> list[Any]:
    certs = []
    for chunk in data.split(_PEM_CERT)[1:]:
        certs.append(Certificate.loadPEM(_PEM_CERT + chunk))
    return certs


def load_trust_root(path: str) -> Any:
    """
    A trust root from Kea's C{trust-anchor}: a PEM file (bundle) or a
    directory of PEM files, as OpenSSL's CA file / CA path.
    """
    fp = FilePath(path)
    files = sorted(c for c in fp.children() if c.isfile()) if fp.isdir() else [fp]
    certs = []
    for f in files:
        certs.extend(_pem_certificates(f.getContent()))
    if not certs:
        raise ValueError(f"no PEM certificate found in trust-anchor {path!r}")
    return trustRootFromCertificates(certs)


def client_tls_creator(tls: TLSConfig) -> Any:
    """
    An C{IOpenSSLClientConnectionCreator} for a peer with Kea's TLS
    settings: the server certificate must chain to C{trust-anchor};
    C{cert-file}/C{key-file} are presented as our client certificate. Like
    Kea 2.2 (verify_peer, no RFC 2818 check) the peer's name or address is
    not matched against its certificate.
    """
    kwargs: dict[str, Any] = {}
    if tls.trust_anchor:
        kwargs["trustRoot"] = load_trust_root(tls.trust_anchor)
    if tls.cert_file and tls.key_file:
        cert_data = FilePath(tls.cert_file).getContent()
        key_data = FilePath(tls.key_file).getContent()
        own = PrivateCertificate.loadPEM(cert_data + b"\n" + key_data)
        kwargs["privateKey"] = own.privateKey.original
        kwargs["certificate"] = own.original
        chain = _pem_certificates(cert_data)[1:]
        if chain:
            kwargs["extraCertChain"] = [c.original for c in chain]
    return KeaClientTLSCreator(CertificateOptions(**kwargs).getContext())


@implementer(IOpenSSLClientConnectionCreator)
class KeaClientTLSCreator:
    """Client TLS connections on one prepared OpenSSL context (no name check)."""

    def __init__(self, context: SSL.Context) -> None:
        self.context = context

    def clientConnectionForTLS(self, tls_protocol: Any) -> SSL.Connection:  # noqa: N802
        """A client-side OpenSSL connection for C{tls_protocol}."""
        connection = SSL.Connection(self.context, None)
        connection.set_app_data(tls_protocol)
        connection.set_connect_state()
        return connection


@implementer(IPolicyForHTTPS)
class KeaTLSPolicy:
    """
    The Agent's C{IPolicyForHTTPS}: one client TLS context per https peer,
    built once from the peer's (or the relationship's) TLS settings.
    """

    def __init__(self, peers: Sequence[PeerConfig], tls: TLSConfig | None = None) -> None:
        self._creators: dict[tuple[str, int], Any] = {}
        for peer in peers:
            if peer.scheme != "https":
                continue
            settings = peer.tls if peer.tls is not None else tls
            if settings is None:
                raise ValueError(f"peer {peer.name!r} uses https without TLS settings")
            self._creators[(peer.host, peer.port)] = client_tls_creator(settings)

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:  # noqa: N802
        """The TLS connection creator of the peer at C{hostname}:C{port}."""
        host = hostname.decode("ascii").strip("[]")
        try:
            return self._creators[(host, port)]
        except KeyError:
            raise ValueError(f"no TLS settings for {host}:{port}") from None


__all__: Sequence[str] = (
    "DEFAULT_TIMEOUT_S",
    "KeaClientTLSCreator",
    "KeaTLSPolicy",
    "PeerClient",
    "PeerCommandUnsupported",
    "PeerCommandUnsupportedError",
    "encode_command",
    "kea_error_message",
    "make_peer_clients",
    "make_peer_http_client",
    "peer_connections",
    "parse_answer",
    "peer_base_url",
)
