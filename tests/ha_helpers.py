"""
Builders and fakes for the HA state-machine tests: HA configurations per
mode, a scripted L{IPeerClient}, and stand-ins for the lease updater and
the lease sync that record what the brain asked of them.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from kea_ha_tw.config.model import HAConfig, PeerConfig, ServerConfig, StatePauseConfig
from kea_ha_tw.dhcp.packet import DHCPPacket, MessageType, Opt
from kea_ha_tw.interfaces import IPeerClient

MODE_ROLES = {
    "load-balancing": ("primary", "secondary"),
    "hot-standby": ("primary", "standby"),
    "passive-backup": ("primary",),
}


def peer(name: str, role: str, auto_failover: bool = True, index: int = 1) -> PeerConfig:
    """A peer on 127.0.0.<index>:8000."""
    host = f"127.0.0.{index}"
    return PeerConfig(name=name, url=f"http://{host}:8000/", scheme="http", host=host,
                      port=8000, role=role, auto_failover=auto_failover)


def ha_config(mode: str = "load-balancing", this: str = "server1", backups: int = 0,
              pause: dict[str, str] | None = None, auto_failover: bool = True,
              **overrides: Any) -> HAConfig:
    """
    server1 (primary), server2 (secondary/standby, absent in passive-backup),
    then backup1.. backupN; C{this} names this server.
    """
    roles = MODE_ROLES[mode]
    peers = [peer(f"server{i + 1}", role, auto_failover, i + 1) for i, role in enumerate(roles)]
    peers += [peer(f"backup{i + 1}", "backup", True, 10 + i) for i in range(backups)]
    if mode == "load-balancing":
        overrides.setdefault("delayed_updates_limit", 100)
    states = tuple(StatePauseConfig(state=s, pause=p) for s, p in (pause or {}).items())
    return HAConfig(this_server_name=this, mode=mode, peers=tuple(peers),
                    state_machine=states, **overrides)


def server_config(ha: HAConfig) -> ServerConfig:
    """A ServerConfig carrying C{ha}."""
    return ServerConfig(ha=ha)


def query(message_type: int | None = MessageType.DISCOVER, mac: bytes = b"\xaa\xbb\xcc\xdd\xee\xff",
          client_id: bytes | None = None, secs: int = 0, hlen: int = 6, xid: int = 1) -> DHCPPacket:
    """A DHCP query with the given type, chaddr, option 61 and secs."""
    options: dict[int, bytes] = {}
    if message_type is not None:
        options[Opt.MESSAGE_TYPE] = bytes((message_type,))
    if client_id is not None:
        options[Opt.CLIENT_ID] = client_id
    return DHCPPacket(chaddr=mac.ljust(16, b"\x00"), hlen=hlen, secs=secs, xid=xid,
                      options=options, ciaddr=IPv4Address("0.0.0.0"))


@implementer(IPeerClient)
class FakePeerClient:
    """
    An IPeerClient whose answers are scripted: C{answers[command]} is a
    value (fire with it), an exception (fail with it), or C{"pending"}
    (return a Deferred kept in C{pending}). C{sent} records every call.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.answers: dict[str, Any] = {}
        self.sent: list[tuple[str, Any, float]] = []
        self.pending: list[Deferred] = []

    def send_command(self, command, arguments=None, timeout_s=10.0):
        """Record the call and answer as scripted."""
        self.sent.append((command, arguments, timeout_s))
        reply = self.answers.get(command)
        if reply == "pending":
            d: Deferred = Deferred()
            self.pending.append(d)
            return d
        if isinstance(reply, BaseException):
            return fail(reply)
        return succeed(reply)

    def commands(self) -> list[str]:
        """The command names sent so far."""
        return [c for c, _, _ in self.sent]


class FakeUpdater:
    """Stands in for the wire helper's LeaseUpdater."""

    def __init__(self, ha, policy, clients, clock, on_peer_failure) -> None:
        self.policy = policy
        self.on_peer_failure = on_peer_failure
        self.unsent_update_count = 0
        self.backlog_overflowed = False
        self.sent: list[tuple[Any, Any, Any, Any]] = []
        self.send_result: Any = True
        self.replay_result: Any = True
        self.reset_result: Any = True
        self.replays = 0
        self.resets = 0
        self.cleared = 0
        self.idle: Deferred | None = None
        self.queued = False

    def updates_queued(self):
        """The configured C{queued}."""
        return self.queued

    def send(self, query, leases, deleted, state):
        """Record; fire with C{send_result} (or return it if a Deferred)."""
        self.sent.append((query, leases, deleted, state))
        if isinstance(self.send_result, Deferred):
            return self.send_result
        return succeed(self.send_result)

    def replay_backlog(self):
        """Count; fire with C{replay_result}."""
        self.replays += 1
        return self.replay_result if isinstance(self.replay_result, Deferred) \
            else succeed(self.replay_result)

    def send_ha_reset(self):
        """Count; fire with C{reset_result}."""
        self.resets += 1
        return succeed(self.reset_result)

    def clear_backlog(self):
        """Count the clears."""
        self.cleared += 1
        self.backlog_overflowed = False

    def wait_idle(self):
        """Fire at once unless C{idle} holds a Deferred."""
        return self.idle if self.idle is not None else succeed(None)


class FakeSync:
    """Stands in for the wire helper's LeaseSync: each call is a pending Deferred."""

    def __init__(self, ha, clients, store, clock, on_peer_failure) -> None:
        self.on_peer_failure = on_peer_failure
        self.calls: list[tuple[str, Any]] = []
        self.pending: list[Deferred] = []
        self.in_progress = False

    def synchronize(self, server_name, max_period):
        """Record and return a Deferred the test fires."""
        self.calls.append((server_name, max_period))
        d: Deferred = Deferred()
        self.pending.append(d)
        return d
