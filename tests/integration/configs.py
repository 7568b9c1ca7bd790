"""
The Kea C{Dhcp4} configurations the integration tests give to the server
under test.  The same document goes to real C{kea-dhcp4} and to
C{twistd kea-ha}, so each test is first proven against Kea.
"""

from __future__ import annotations

import copy

# Timers: T1 < T2 < lease, all explicit (Kea sends no T1/T2 otherwise).
VALID_LIFETIME = 4000
RENEW_TIMER = 1000
REBIND_TIMER = 2000


def _base(lease_file: str, interfaces: list[str], socket_type: str | None = None) -> dict:
    ifc: dict = {"interfaces": interfaces}
    if socket_type:
        ifc["dhcp-socket-type"] = socket_type
    return {
        "Dhcp4": {
            "interfaces-config": ifc,
            "lease-database": {
                "type": "memfile",
                "persist": True,
                "name": lease_file,
                "lfc-interval": 0,
            },
            "valid-lifetime": VALID_LIFETIME,
            "renew-timer": RENEW_TIMER,
            "rebind-timer": REBIND_TIMER,
            "subnet4": [],
        }
    }


def _subnet(subnet_id: int, third_octet: int) -> dict:
    net = f"10.77.{third_octet}"
    return {
        "id": subnet_id,
        "subnet": f"{net}.0/24",
        "pools": [{"pool": f"{net}.100 - {net}.199"}],
        "option-data": [
            {"name": "routers", "data": f"{net}.1"},
            {"name": "domain-name-servers", "data": f"{net}.1"},
            {"name": "domain-name", "data": "khi.example"},
        ],
    }


def direct_config(lease_file: str) -> dict:
    """One subnet, 10.77.1.0/24 (pool .100-.199), served on C{s0}."""
    conf = _base(lease_file, ["s0"])
    conf["Dhcp4"]["subnet4"] = [_subnet(1, 1)]
    return conf


def relay_config(lease_file: str) -> dict:
    """
    The server's own link 10.77.1.0/24 (id 1) plus the relayed client link
    10.77.2.0/24 (id 2), selected by the relay's giaddr 10.77.2.1.
    """
    conf = _base(lease_file, ["s0"])
    conf["Dhcp4"]["subnet4"] = [_subnet(1, 1), _subnet(2, 2)]
    return conf


def perfdhcp_config(lease_file: str) -> dict:
    """
    Loopback only: listen on 127.0.0.1 (UDP socket), one big subnet chosen
    by C{relay.ip-addresses} = perfdhcp's giaddr 127.0.0.2.
    """
    conf = _base(lease_file, ["lo/127.0.0.1"], socket_type="udp")
    conf["Dhcp4"]["subnet4"] = [
        {
            "id": 1,
            "subnet": "10.77.0.0/16",
            "pools": [{"pool": "10.77.0.10 - 10.77.255.250"}],
            "relay": {"ip-addresses": ["127.0.0.2"]},
            "option-data": [{"name": "routers", "data": "10.77.0.1"}],
        }
    ]
    return conf


def derive(conf: dict, mutate) -> dict:
    """A deep copy of C{conf} with C{mutate(copy["Dhcp4"])} applied."""
    new = copy.deepcopy(conf)
    mutate(new["Dhcp4"])
    return new
