"""
Shared pieces of the integration test cases: the skip decision, a
per-test work directory and lab, lease-file reading, and the checks every
"a client bound" test makes.
"""

from __future__ import annotations

import csv
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from tests.integration.netns import Lab, skip_reason

SKIP = skip_reason()


class IntegrationMixin:
    """
    setUp gives C{self.workdir} (absolute, kept by trial after the run)
    and C{self.lab} (namespaces removed in cleanup).  Mixed into a trial
    C{TestCase} together with a C{server_class}.
    """

    server_class = None

    def setUp(self):
        """Work directory and lab for this test."""
        self.workdir = Path(self.mktemp()).resolve()
        self.workdir.mkdir(parents=True)
        self.lab = Lab(self)

    def lease_file_path(self, name: str = "leases4.csv") -> str:
        """An absolute lease-file path inside the work directory."""
        return str(self.workdir / name)


def read_leases(path) -> list[dict]:
    """The rows of a Kea v4 memfile (header names as keys)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def current_leases(path) -> dict[str, dict]:
    """
    address -> its last row, for rows that still hold the address
    (C{valid_lifetime} > 0): what Kea would load.
    """
    last: dict[str, dict] = {}
    for row in read_leases(path):
        last[row["address"]] = row
    return {a: r for a, r in last.items() if int(r["valid_lifetime"]) > 0}


def assert_bound(
    testcase,
    lease,
    took: float,
    acks: list[dict],
    subnet: str,
    router: str,
    server_id: str,
    server,
    limit: float = 10,
) -> None:
    """
    The checks of issue 2 for one client that bound: within C{limit}
    seconds, an address in C{subnet}; the DHCPACK on the wire carries
    options 1, 3, 51, 54 with the right values and T1 < T2 < lease; the
    client reported the same.
    """
    ctx = "\n" + server.log_tail()
    net = IPv4Network(subnet)
    testcase.assertLessEqual(took, limit, f"bound after {took:.1f} s" + ctx)
    testcase.assertIn(lease.address, net, f"client got {lease.address}, not in {subnet}" + ctx)
    testcase.assertEqual(lease.subnet_mask, str(net.netmask), ctx)
    testcase.assertEqual(lease.routers, router, ctx)
    testcase.assertEqual(lease.server_id, server_id, ctx)
    mine = [a for a in acks if IPv4Address(a["yiaddr"]) == lease.address]
    testcase.assertTrue(mine, f"no DHCPACK for {lease.address} captured" + ctx)
    ack = mine[-1]
    for name in (
        "subnet_mask",
        "router",
        "lease_time",
        "server_id",
        "renewal_time",
        "rebinding_time",
    ):
        testcase.assertIn(name, ack, f"DHCPACK lacks {name}: {ack}" + ctx)
    testcase.assertEqual(ack["subnet_mask"], str(net.netmask))
    testcase.assertEqual(ack["router"], router)
    testcase.assertEqual(ack["server_id"], server_id)
    t1, t2, valid = ack["renewal_time"], ack["rebinding_time"], ack["lease_time"]
    testcase.assertTrue(0 < t1 < t2 < valid, f"T1={t1} T2={t2} lease={valid}" + ctx)
    # What the client understood matches the wire.
    testcase.assertEqual(
        (lease.lease_time, lease.renewal_time, lease.rebinding_time), (valid, t1, t2), ctx
    )


def assert_in_lease_file(testcase, server, address, mac: str) -> None:
    """The server's memfile already holds C{address} for C{mac}."""
    rows = current_leases(server.lease_file)
    testcase.assertIn(
        str(address), rows, f"{address} not in {server.lease_file}\n" + server.log_tail()
    )
    testcase.assertEqual(rows[str(address)]["hwaddr"].lower(), mac.lower())
