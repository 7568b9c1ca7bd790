"""
Kea 2.2 Dhcp4 configurations for the bench (pure: dicts, no files).

One text serves both servers: ours reads Kea's format, so a scenario's
file for a peer is the same whether Kea or ours runs it (only the lease
file and log paths differ). Pools are sized for perfdhcp's 100 000
clients; a load-balancing pair splits them by C{HA_server1}/C{HA_server2}.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

HOOKS_DIR = "/usr/lib/x86_64-linux-gnu/kea/hooks"
SUBNET = IPv4Network("10.128.0.0/14")
HA_PORT = 8000


@dataclass(frozen=True)
class Peer:
    """One HA peer: name, URL host, role."""

    name: str
    address: str
    role: str

    @property
    def url(self) -> str:
        """The peer URL (HA traffic, Kea's dedicated listener or its agent)."""
        return f"http://{self.address}:{HA_PORT}/"


def pools(split: bool, subnet: IPv4Network = SUBNET) -> list[dict]:
    """
    The subnet's pool(s): the whole range, or two halves guarded by
    C{HA_server1} / C{HA_server2} (load balancing needs the split, or both
    peers would hand out the same addresses).
    """
    first = int(subnet.network_address) + 1
    last = int(subnet.broadcast_address) - 1
    if not split:
        return [{"pool": f"{IPv4Address(first)} - {IPv4Address(last)}"}]
    mid = (first + last) // 2
    return [
        {"pool": f"{IPv4Address(first)} - {IPv4Address(mid)}", "client-class": "HA_server1"},
        {"pool": f"{IPv4Address(mid + 1)} - {IPv4Address(last)}", "client-class": "HA_server2"},
    ]


def ha_parameters(mode: str, this: str, peers: list[Peer], *, multi_threading: bool,
                  heartbeat_delay: int = 1000, max_response_delay: int = 10000,
                  sync_leases: bool = True, sync_page_limit: int = 10000,
                  sync_timeout: int = 120000, client_threads: int = 0) -> dict:
    """
    The single C{high-availability} relationship map for C{this} peer.
    C{client_threads} is C{multi-threading.http-client-threads} (0: Kea's
    default, one per CPU), the same for every server of a run; like Kea's,
    it is only written with C{multi_threading} (the HA listener transport).
    """
    rel: dict = {
        "this-server-name": this,
        "mode": mode,
        "peers": [{"name": p.name, "url": p.url, "role": p.role} for p in peers],
    }
    if mode != "passive-backup":
        rel.update({
            "heartbeat-delay": heartbeat_delay,
            "max-response-delay": max_response_delay,
            "max-ack-delay": 10000,
            "max-unacked-clients": 10,
            "sync-leases": sync_leases,
            "sync-timeout": sync_timeout,
            "sync-page-limit": sync_page_limit,
        })
    else:
        rel["wait-backup-ack"] = False
    if multi_threading:
        rel["multi-threading"] = {"enable-multi-threading": True, "http-dedicated-listener": True,
                                  "http-listener-threads": 0,
                                  "http-client-threads": client_threads}
    return rel


def dhcp4(*, interface: str, socket_type: str, lease_file: str, relay: str, log_file: str,
          ha: dict | None = None, multi_threading: bool = False,
          control_socket: str | None = None, split_pools: bool = False,
          valid_lifetime: int = 4000, subnet: IPv4Network = SUBNET) -> dict:
    """
    A whole C{{"Dhcp4": ...}} configuration.

    @param interface: Kea's interface spec (C{"lo/127.0.0.1"}, C{"eth0"}).
    @param relay: the giaddr perfdhcp uses: the subnet's relay address.
    @param ha: an L{ha_parameters} map, or C{None} for a standalone server.
    @param multi_threading: Kea's C{Dhcp4.multi-threading} (needed for the
        HA dedicated listener).
    @param control_socket: a unix socket path (for C{kea-ctrl-agent}).
    """
    d4: dict = {
        "interfaces-config": {"interfaces": [interface], "dhcp-socket-type": socket_type},
        "lease-database": {"type": "memfile", "persist": True, "name": lease_file,
                           "lfc-interval": 0},
        "valid-lifetime": valid_lifetime,
        "renew-timer": valid_lifetime // 4,
        "rebind-timer": valid_lifetime // 2,
        "subnet4": [{
            "id": 1,
            "subnet": str(subnet),
            "pools": pools(split_pools, subnet),
            "relay": {"ip-addresses": [relay]},
            "option-data": [
                {"name": "routers", "data": str(subnet.network_address + 1)},
                {"name": "domain-name-servers", "data": str(subnet.network_address + 2)},
            ],
        }],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                     "output_options": [{"output": log_file}]}],
    }
    if multi_threading:
        d4["multi-threading"] = {"enable-multi-threading": True}
    if control_socket is not None:
        d4["control-socket"] = {"socket-type": "unix", "socket-name": control_socket}
    if ha is not None:
        d4["hooks-libraries"] = [
            {"library": f"{HOOKS_DIR}/libdhcp_lease_cmds.so"},
            {"library": f"{HOOKS_DIR}/libdhcp_ha.so",
             "parameters": {"high-availability": [ha]}},
        ]
    return {"Dhcp4": d4}


def control_agent(address: str, control_socket: str, log_file: str) -> dict:
    """C{kea-ctrl-agent} forwarding HTTP on C{address}:8000 to the server's unix socket."""
    return {"Control-agent": {
        "http-host": address,
        "http-port": HA_PORT,
        "control-sockets": {"dhcp4": {"socket-type": "unix", "socket-name": control_socket}},
        "loggers": [{"name": "kea-ctrl-agent", "severity": "WARN",
                     "output_options": [{"output": log_file}]}],
    }}
