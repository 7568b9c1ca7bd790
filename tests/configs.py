"""
Configuration texts and builders shared by the configuration tests.

The three complete configurations are kea-ha-reference.md section 8.2's
(Kea accepted each with C{kea-dhcp4 -t} and started with it), and
L{OPTION_A} is section 8.3's variant (no HA listener, a unix control socket,
basic auth toward the control agents). L{SEED_TEXT} is the passive-backup
example of Kea's ARM as printed (with its extraneous comma after the pool).
"""

from __future__ import annotations

import json
from typing import Any

HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks/"

HOT_STANDBY = """{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ ] },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 4, "packet-queue-size": 64 },
  "lease-database": { "type": "memfile", "persist": true,
                      "name": "/var/lib/kea/kea-leases4.csv", "lfc-interval": 3600 },
  "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
  "hooks-libraries": [
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so" },
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so",
      "parameters": { "high-availability": [ {
        "this-server-name": "server2",
        "mode": "hot-standby",
        "heartbeat-delay": 10000, "max-response-delay": 60000,
        "max-ack-delay": 10000, "max-unacked-clients": 10,
        "sync-timeout": 60000, "sync-page-limit": 10000,
        "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                             "http-listener-threads": 4, "http-client-threads": 4 },
        "peers": [
          { "name": "server1", "url": "http://127.0.0.11:8001/", "role": "primary", "auto-failover": true },
          { "name": "server2", "url": "http://127.0.0.12:8001/", "role": "standby", "auto-failover": true } ]
      } ] } } ],
  "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24",
                 "pools": [ { "pool": "192.0.2.100 - 192.0.2.199" } ],
                 "option-data": [ { "name": "routers", "data": "192.0.2.1" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "INFO" },
               { "name": "kea-dhcp4.ha-hooks", "output_options": [ { "output": "stdout" } ], "severity": "INFO" } ]
} }"""

LOAD_BALANCING = """{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ ] },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 4, "packet-queue-size": 64 },
  "lease-database": { "type": "memfile", "persist": true,
                      "name": "/var/lib/kea/kea-leases4.csv", "lfc-interval": 3600 },
  "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
  "hooks-libraries": [
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so" },
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so",
      "parameters": { "high-availability": [ {
        "this-server-name": "server2",
        "mode": "load-balancing",
        "heartbeat-delay": 10000, "max-response-delay": 60000,
        "max-ack-delay": 10000, "max-unacked-clients": 10, "delayed-updates-limit": 100,
        "sync-timeout": 60000, "sync-page-limit": 10000,
        "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                             "http-listener-threads": 4, "http-client-threads": 4 },
        "peers": [
          { "name": "server1", "url": "http://127.0.0.21:8001/", "role": "primary" },
          { "name": "server2", "url": "http://127.0.0.22:8001/", "role": "secondary" } ]
      } ] } } ],
  "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24",
                 "pools": [ { "pool": "192.0.2.100 - 192.0.2.149", "client-class": "HA_server1" },
                            { "pool": "192.0.2.150 - 192.0.2.199", "client-class": "HA_server2" } ],
                 "option-data": [ { "name": "routers", "data": "192.0.2.1" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "INFO" } ]
} }"""

PASSIVE_BACKUP = """{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ ] },
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 4, "packet-queue-size": 64 },
  "lease-database": { "type": "memfile", "persist": true,
                      "name": "/var/lib/kea/kea-leases4.csv", "lfc-interval": 3600 },
  "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
  "hooks-libraries": [
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so" },
    { "library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so",
      "parameters": { "high-availability": [ {
        "this-server-name": "server2",
        "mode": "passive-backup",
        "wait-backup-ack": false,
        "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                             "http-listener-threads": 4, "http-client-threads": 4 },
        "peers": [
          { "name": "server1", "url": "http://127.0.0.31:8001/", "role": "primary" },
          { "name": "server2", "url": "http://127.0.0.32:8001/", "role": "backup" } ]
      } ] } } ],
  "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24",
                 "pools": [ { "pool": "192.0.2.100 - 192.0.2.199" } ],
                 "option-data": [ { "name": "routers", "data": "192.0.2.1" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "INFO" } ]
} }"""


def _option_a() -> str:
    d = json.loads(HOT_STANDBY)
    ha = d["Dhcp4"]["hooks-libraries"][1]["parameters"]["high-availability"][0]
    del ha["multi-threading"]
    for peer, address in zip(ha["peers"], ("127.0.0.41", "127.0.0.42"), strict=True):
        peer["url"] = f"http://{address}:8000/"
        peer["basic-auth-user"] = "ha"
        peer["basic-auth-password"] = "secret"
    d["Dhcp4"]["control-socket"] = {
        "socket-type": "unix",
        "socket-name": "/run/kea/kea4-ctrl-socket",
    }
    return json.dumps(d, indent=2)


OPTION_A = _option_a()

# Kea ARM, hooks-ha.rst, passive-backup example (seed 000), as printed,
# wrapped in { }. Line 33 holds the extraneous comma Kea warns about.
SEED_TEXT = """{
"Dhcp4": {
"hooks-libraries": [{
"library": "/usr/lib/kea/hooks/libdhcp_lease_cmds.so",
"parameters": { }
}, {
"library": "/usr/lib/kea/hooks/libdhcp_ha.so",
"parameters": {
"high-availability": [{
"this-server-name": "server1",
"mode": "passive-backup",
"wait-backup-ack": true,
"peers": [{
"name": "server1",
"url": "http://192.168.56.33:8000/",
"role": "primary"
}, {
"name": "server2",
"url": "http://192.168.56.66:8000/",
"role": "backup"
}, {
"name": "server3",
"url": "http://192.168.56.99:8000/",
"role": "backup"
}]
}]
}
}],

"subnet4": [{
"subnet": "192.0.3.0/24",
"pools": [{
"pool": "192.0.3.100 - 192.0.3.250",
}],

"option-data": [{
"name": "routers",
"data": "192.0.3.1"
}],

"relay": { "ip-address": "10.1.2.3" }
}]
}
}
"""


def subnet(**kw: Any) -> dict[str, Any]:
    """A subnet4 entry for 192.0.2.0/24 plus C{kw}."""
    return {"subnet": "192.0.2.0/24", **kw}


def ha_map(**over: Any) -> dict[str, Any]:
    """A valid hot-standby relationship map, updated with C{over}."""
    m: dict[str, Any] = {
        "this-server-name": "server1",
        "mode": "hot-standby",
        "peers": [
            {"name": "server1", "url": "http://127.0.0.11:8001/", "role": "primary"},
            {"name": "server2", "url": "http://127.0.0.12:8001/", "role": "standby"},
        ],
    }
    m.update(over)
    return m


def peers(
    *changes: tuple[int, dict[str, Any]], mode_roles: tuple[str, str] = ("primary", "standby")
):
    """The two default peers with C{(index, updates)} applied."""
    ps = [
        {"name": "server1", "url": "http://127.0.0.11:8001/", "role": mode_roles[0]},
        {"name": "server2", "url": "http://127.0.0.12:8001/", "role": mode_roles[1]},
    ]
    for i, update in changes:
        ps[i].update(update)
    return ps


def with_ha(relationships: Any = None, lease_cmds: bool = True, **dhcp4: Any) -> dict[str, Any]:
    """A Dhcp4 map loading lease_cmds and ha with C{relationships}."""
    hooks = [{"library": HOOKS + "libdhcp_lease_cmds.so"}] if lease_cmds else []
    hooks.append(
        {
            "library": HOOKS + "libdhcp_ha.so",
            "parameters": {
                "high-availability": [ha_map()] if relationships is None else relationships
            },
        }
    )
    return {"hooks-libraries": hooks, "subnet4": [subnet(id=1)], **dhcp4}


HA_PATH = "Dhcp4.hooks-libraries[1].parameters.high-availability[0]"


def text(d4: Any) -> str:
    """The configuration file text for a Dhcp4 map."""
    return json.dumps({"Dhcp4": d4})
