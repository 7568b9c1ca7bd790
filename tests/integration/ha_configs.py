"""
Kea 2.2 C{Dhcp4} documents for the HA integration tests.  The same
document goes to real C{kea-dhcp4} and to C{twistd kea-ha}; only
C{this-server-name} and the lease file differ between the peers of one
test.

Peers talk through Kea's HA dedicated listener (reference section 8.2:
multi-threading on in C{Dhcp4} and in the HA map) on C{http://10.88.0.N:8001/}.
DHCP arrives as relayed broadcasts on each server's C{s0}, so Kea uses raw
sockets there.  Timers are short so that failover takes about two seconds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from tests.integration.ha_lab import HA_PORT, NET_PREFIX, server_addr

LEASE_CMDS = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"
LIBDHCP_HA = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so"

VALID_LIFETIME = 3600
# Fast failure detection: heartbeats every 0.25 s, interrupted after 1.5 s,
# partner-down at once (no unacked clients needed).
FAST_TIMERS = {
    "heartbeat-delay": 250,
    "max-response-delay": 1500,
    "max-ack-delay": 1000,
    "max-unacked-clients": 0,
    "sync-timeout": 10000,
}


@dataclass(frozen=True)
class PeerSpec:
    """One peer of a relationship: name, role and bridge index (address)."""

    name: str
    role: str
    index: int

    @property
    def url(self) -> str:
        """The peer's HA url (its dedicated listener)."""
        return f"http://{server_addr(self.index)}:{HA_PORT}/"


def peers_for(mode: str, backups: int = 0) -> list[PeerSpec]:
    """server1 primary, server2 secondary/standby (not in passive-backup), then backups."""
    peers = [PeerSpec("server1", "primary", 1)]
    if mode == "load-balancing":
        peers.append(PeerSpec("server2", "secondary", 2))
    elif mode == "hot-standby":
        peers.append(PeerSpec("server2", "standby", 2))
    for _ in range(backups):
        i = len(peers) + 1
        peers.append(PeerSpec(f"server{i}", "backup", i))
    return peers


def pools_for(mode: str) -> list[dict]:
    """One pool, or (load-balancing) one pool per server's HA_ class."""
    if mode == "load-balancing":
        return [
            {"pool": f"{NET_PREFIX}.100 - {NET_PREFIX}.149", "client-class": "HA_server1"},
            {"pool": f"{NET_PREFIX}.150 - {NET_PREFIX}.199", "client-class": "HA_server2"},
        ]
    return [{"pool": f"{NET_PREFIX}.100 - {NET_PREFIX}.199"}]


def ha_map(
    this: str,
    mode: str,
    peers: list[PeerSpec],
    wait_backup_ack: bool | None = None,
    timers: dict | None = None,
    extra: dict | None = None,
    listener: bool = True,
) -> dict:
    """
    The single C{high-availability} relationship map; with C{listener}
    false, HA multi-threading (and so the dedicated listener) stays off.
    """
    ha: dict = {"this-server-name": this, "mode": mode}
    if mode != "passive-backup":
        ha.update(FAST_TIMERS if timers is None else timers)
    if wait_backup_ack is not None:
        ha["wait-backup-ack"] = wait_backup_ack
    if listener:
        ha["multi-threading"] = {
            "enable-multi-threading": True,
            "http-dedicated-listener": True,
            "http-listener-threads": 2,
            "http-client-threads": 2,
        }
    ha["peers"] = [{"name": p.name, "url": p.url, "role": p.role} for p in peers]
    if extra:
        ha.update(extra)
    return ha


def ha_config(
    this: str,
    mode: str,
    peers: list[PeerSpec],
    lease_file: str,
    wait_backup_ack: bool | None = None,
    timers: dict | None = None,
    extra: dict | None = None,
    control_socket: str | None = None,
) -> dict:
    """
    The whole Kea C{Dhcp4} document of peer C{this}.

    Without C{control_socket} the peer is reached through its HA dedicated
    listener (multi-threading on, reference section 8.2).  With it, the
    peer runs single-threaded with a unix control socket at that path, for
    a C{kea-ctrl-agent} on the peer's url (reference section 8.3).
    """
    conf = {
        "Dhcp4": {
            "interfaces-config": {"interfaces": ["s0"], "dhcp-socket-type": "raw"},
            "multi-threading": {
                "enable-multi-threading": True,
                "thread-pool-size": 2,
                "packet-queue-size": 64,
            },
            "lease-database": {
                "type": "memfile",
                "persist": True,
                "name": lease_file,
                "lfc-interval": 0,
            },
            "valid-lifetime": VALID_LIFETIME,
            "renew-timer": VALID_LIFETIME // 4,
            "rebind-timer": VALID_LIFETIME // 2,
            "hooks-libraries": [
                {"library": LEASE_CMDS},
                {
                    "library": LIBDHCP_HA,
                    "parameters": {
                        "high-availability": [
                            ha_map(
                                this,
                                mode,
                                peers,
                                wait_backup_ack,
                                timers,
                                extra,
                                listener=control_socket is None,
                            )
                        ]
                    },
                },
            ],
            "subnet4": [
                {
                    "id": 1,
                    "subnet": f"{NET_PREFIX}.0/24",
                    "pools": pools_for(mode),
                    "option-data": [{"name": "routers", "data": f"{NET_PREFIX}.254"}],
                }
            ],
            "loggers": [
                {
                    "name": "kea-dhcp4",
                    "output_options": [{"output": "stdout"}],
                    "severity": "INFO",
                }
            ],
        }
    }
    if control_socket is not None:
        conf["Dhcp4"]["multi-threading"] = {"enable-multi-threading": False}
        conf["Dhcp4"]["control-socket"] = {"socket-type": "unix", "socket-name": control_socket}
    return conf


def agent_config(host: str, port: int, control_socket: str) -> dict:
    """A C{kea-ctrl-agent} on C{host:port} forwarding C{dhcp4} to C{control_socket}."""
    return {
        "Control-agent": {
            "http-host": host,
            "http-port": port,
            "control-sockets": {
                "dhcp4": {"socket-type": "unix", "socket-name": control_socket},
            },
            "loggers": [
                {
                    "name": "kea-ctrl-agent",
                    "output_options": [{"output": "stdout"}],
                    "severity": "INFO",
                }
            ],
        }
    }


def with_debug(config: dict, level: int = 40) -> dict:
    """C{config} with DEBUG logging (for diagnosing a failure by hand)."""
    new = copy.deepcopy(config)
    for logger in new["Dhcp4"]["loggers"]:
        logger["severity"] = "DEBUG"
        logger["debuglevel"] = level
    return new
