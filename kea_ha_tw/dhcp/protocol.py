# -*- test-case-name: tests.test_protocol -*-
"""
L{DHCPServerProtocol}: the Twisted shell around L{DHCPServer}. Bytes in,
L{decode}, C{server.handle}, L{encode}, bytes out, sent where RFC 2131
section 4.1 (as Kea 2.2 reads it) says.

Nothing raises out of C{datagramReceived}: malformed datagrams are
dropped, counted (as Kea 2.2 counts them: C{pkt4-received},
C{pkt4-parse-failed}, C{pkt4-receive-drop}; datagrams shorter than the
236-byte BOOTP header are not counted, as in Kea) and logged at a
rate-limited pace; any other failure is logged with C{log.failure} and the
packet dropped.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address

from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol

from kea_ha_tw.dhcp.codec import HEADER_LEN, decode, encode
from kea_ha_tw.dhcp.packet import FLAG_BROADCAST, ZERO, DHCPPacket
from kea_ha_tw.dhcp.read_pacing import IDLE_READ_INTERVAL_S, IdleReadPacer, ShortReadTurns
from kea_ha_tw.errors import PacketDecodeError
from kea_ha_tw.loggers import Logger

CLIENT_PORT = 68
SERVER_PORT = 67
BROADCAST = "255.255.255.255"
_INFORM = 8
_NAK = 6
_RAI_RELAY_PORT = 19


_TEXT_CACHE: dict[int, str] = {}


def _text(address: IPv4Address) -> str:
    """Dotted text of an address, cached (relays repeat: giaddr text is hot)."""
    key = int(address)
    text = _TEXT_CACHE.get(key)
    if text is None:
        if len(_TEXT_CACHE) >= 4096:
            _TEXT_CACHE.clear()
        text = _TEXT_CACHE[key] = socket.inet_ntoa(address.packed)
    return text


def _relay_port_requested(rai: bytes | None) -> bool:
    """True when option 82 carries the RFC 8357 relay-port sub-option."""
    if not rai:
        return False
    pos, end = 0, len(rai)
    while pos + 2 <= end:
        if rai[pos] == _RAI_RELAY_PORT:
            return True
        pos += 2 + rai[pos + 1]
    return False


def route_reply(query: DHCPPacket, reply: DHCPPacket, source: tuple[str, int] | None,
                direct: bool) -> tuple[str, int, bool]:
    """
    Where C{reply} goes: C{(address, port, raw)}. C{raw} means "send a
    raw frame to the client's hardware address" (C{chaddr}), which needs
    a raw socket; it is only returned when C{direct} (the interface can
    send raw frames and C{chaddr} holds an address). Like Kea 2.2 with raw
    sockets, a reply broadcast to 255.255.255.255 (NAK, broadcast flag)
    then goes in a frame to the client's MAC too, not to ff:ff:ff:ff:ff:ff.

    Kea 2.2's C{adjustRemoteAddr}/C{adjustIfaceData}: relayed -> giaddr;
    ciaddr set -> ciaddr; NAK -> broadcast; a lease and no broadcast flag
    and direct sending -> yiaddr; a lease otherwise -> broadcast; else the
    source address. INFORM: ciaddr, else giaddr, else the source.
    """
    options = query.options
    mt = options.get(53)
    mtype = mt[0] if mt and len(mt) == 1 else 0
    relayed = bool(int(query.giaddr))
    src_port = source[1] if source else SERVER_PORT
    if relayed and mtype != _INFORM:
        # The common case (every relayed DORA): back to the relay.
        rai = options.get(82)
        port = src_port if rai and _relay_port_requested(rai) else SERVER_PORT
        return _text(query.giaddr), port, False
    src_host = source[0] if source else "0.0.0.0"
    raw = False
    if mtype == _INFORM:
        if query.ciaddr != ZERO:
            host = _text(query.ciaddr)
        elif relayed:
            host = _text(query.giaddr)
        else:
            host = src_host
        to_client = query.ciaddr != ZERO or (not relayed and src_host != "0.0.0.0")
    else:
        to_client = not relayed
        if relayed:
            host = _text(query.giaddr)
        elif query.ciaddr != ZERO:
            host = _text(query.ciaddr)
        elif reply.options.get(53) == b"\x06":
            host = BROADCAST
            raw = direct
        elif reply.yiaddr != ZERO:
            if query.flags & FLAG_BROADCAST or not direct:
                host = BROADCAST
                raw = direct
            else:
                host = _text(reply.yiaddr)
                raw = True
        else:
            host = src_host
    if to_client:
        port = CLIENT_PORT
    else:
        port = src_port if _relay_port_requested(options.get(82)) else SERVER_PORT
    return host, port, raw


class _RateLimit:
    """At most C{limit} events per C{interval} seconds on C{clock}; counts the rest."""

    def __init__(self, clock, limit: int, interval: float) -> None:
        self._clock = clock
        self._limit = limit
        self._interval = interval
        self._window_start = None
        self._in_window = 0
        self.suppressed = 0

    def allow(self) -> tuple[bool, int]:
        """(log this one?, how many were suppressed since the last window)."""
        now = self._clock.seconds()
        flushed = 0
        if self._window_start is None or now - self._window_start >= self._interval:
            self._window_start = now
            self._in_window = 0
            flushed, self.suppressed = self.suppressed, 0
        if self._in_window < self._limit:
            self._in_window += 1
            return True, flushed
        self.suppressed += 1
        return False, flushed


class DHCPServerProtocol(DatagramProtocol):
    """
    One interface's DHCP socket.

    @param server: the L{DHCPServer}.
    @param iface: the L{InterfaceInfo} this socket is bound to.
    @param clock: C{IReactorTime} for the log rate limit.
    @param raw_sender: a L{RawSender} for direct unicast to clients with no
        address (C{dhcp-socket-type} C{"raw"}), or C{None}: such replies are
        then broadcast, as Kea does with UDP sockets.
    @param log_limit: malformed-packet log events per C{log_interval} s.
    @param idle_read_interval: while the server answers no query
        (C{server.answers_none()}), the socket is read once per this many
        seconds (L{IdleReadPacer}); 0 reads every datagram at once.
    """

    _log = Logger()

    def __init__(self, server, iface, clock, raw_sender=None, *, log_limit: int = 5,
                 log_interval: float = 60.0,
                 idle_read_interval: float = IDLE_READ_INTERVAL_S) -> None:
        self.server = server
        self.iface = iface
        self.raw_sender = raw_sender
        self._bad = _RateLimit(clock, log_limit, log_interval)
        self._send_errors = _RateLimit(clock, log_limit, log_interval)
        self._sendto = None
        self._pacer = IdleReadPacer(clock, idle_read_interval)
        self._turns = ShortReadTurns()

    def startProtocol(self) -> None:
        """Allow broadcast replies; let the server accept our address as its id."""
        self.transport.setBroadcastAllowed(True)
        self.server.add_local_address(self.iface.address)
        # Our destinations are always dotted IPv4 text, so the address
        # checks of udp.Port.write (three parses per datagram) can be
        # skipped by sending on its socket directly.
        sock = getattr(self.transport, "socket", None)
        self._sendto = sock.sendto if sock is not None else self.transport.write
        self._pacer.attach(self.transport)
        self._turns.attach(self.transport)

    def stopProtocol(self) -> None:
        """The port closed: no paced turn is resumed on it."""
        self._pacer.stop()

    def datagramReceived(self, data: bytes, addr) -> None:
        """Decode, handle, and (later) send the reply. Never raises."""
        try:
            server = self.server
            pacer = self._pacer
            if not pacer.paused:
                if server.answers_none():
                    self._turns.update(False)
                    pacer.pause()
                else:
                    self._turns.update(server.updates_queued())
            if not server.accepting():
                return
            try:
                query = decode(data)
            except PacketDecodeError as e:
                # Kea counts a parse failure only once it holds a whole BOOTP
                # header; shorter datagrams fail in its receive path, uncounted
                # (DHCP4_BUFFER_RECEIVE_FAIL).
                if len(data) >= HEADER_LEN:
                    server.count_parse_failure()
                self._log_malformed(addr, str(e), len(data))
                return
            result = server.process(query, self.iface, addr)
            if not isinstance(result, Deferred):
                # Decided at once (no HA wait): no Deferred needed.
                self._send(result, query, addr)
                return
            result.addCallback(self._send, query, addr)
            result.addErrback(self._failed, query)
        except Exception:
            self._log.failure("unexpected error handling a datagram from {source}",
                              msg_id="DHCP4_PACKET_PROCESS_EXCEPTION", source=str(addr))

    def _log_malformed(self, addr, reason: str, size: int) -> None:
        ok, suppressed = self._bad.allow()
        if suppressed:
            self._log.warn("{count} more malformed packets were dropped without a log line",
                           msg_id="DHCP4_PACKET_DROP_0001", count=suppressed)
        if ok:
            self._log.warn("dropped malformed packet from {source} ({size} bytes): {reason}",
                           msg_id="DHCP4_PACKET_DROP_0001", source=str(addr), size=size,
                           reason=reason)

    def _failed(self, failure, query) -> None:
        self._log.failure("error processing query xid={xid}", failure,
                          msg_id="DHCP4_PACKET_PROCESS_EXCEPTION", xid=query.xid)

    def _send(self, reply: DHCPPacket | None, query: DHCPPacket, addr) -> None:
        if reply is None:
            return
        host = port = None
        try:
            mms = query.options.get(57)
            max_size = int.from_bytes(mms, "big") if mms is not None and len(mms) == 2 else 576
            payload = encode(reply, max_size)
            # Kea sends to the query frame's source MAC whatever htype and
            # hlen say; a UDP socket does not show it, chaddr stands in.
            raw_ok = self.raw_sender is not None and any(query.chaddr[:6])
            host, port, raw = route_reply(query, reply, addr, raw_ok)
            if raw:
                self.raw_sender.send(payload, query.chaddr[:6], IPv4Address(host), port)
            else:
                self._sendto(payload, (host, port))
        except OSError as e:
            ok, suppressed = self._send_errors.allow()
            if suppressed:
                self._log.warn("{count} more replies could not be sent",
                               msg_id="DHCP4_PACKET_SEND_FAIL", count=suppressed)
            if ok:
                self._log.warn("sending reply xid={xid} to {address} failed: {error}",
                               msg_id="DHCP4_PACKET_SEND_FAIL", xid=query.xid,
                               address=str((host, port)), error=str(e))
            return
        except Exception:
            self._log.failure("encoding/sending reply xid={xid} failed",
                              msg_id="DHCP4_PACKET_SEND_FAIL", xid=query.xid)
            return
        self.server.count_sent(reply)
