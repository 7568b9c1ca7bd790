"""
Tests for L{kea_ha_tw.commands.leases}, through C{StubTreq} over the real
resource tree. The main test replays 405 requests captured from Kea 2.2.0
(L{tests.kea_golden_leases}) and requires every answer to be Kea's, byte
for byte in Kea's JSON form; the others pin down behaviour the replay
cannot show on its own (persistence, HA's lease4-update, paging).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.commands.leases import (
    client_id_from_text,
    decode_formatted_hex,
    hwaddr_from_text,
    kea_lower,
)
from kea_ha_tw.config.model import LeaseDatabaseConfig
from kea_ha_tw.errors import CommandError
from kea_ha_tw.leases.memfile import MemfileLeaseStore
from kea_ha_tw.leases.model import Lease4, LeaseState
from tests.commands_support import NOW, CommandHarness
from tests.kea_golden_leases import CAPTURED_AT, LEASE_CMDS


def lease(address, hwaddr=b"\xaa\xbb\xcc\xdd\xee\x01", subnet_id=1, **kw):
    """A lease in subnet 1 unless told otherwise."""
    fields = dict(address=IPv4Address(address), hwaddr=hwaddr, client_id=None, valid_lft=3600,
                  cltt=NOW, subnet_id=subnet_id)
    fields.update(kw)
    return Lease4(**fields)


class GoldenReplayTests(SynchronousTestCase):
    """Every captured Kea answer is reproduced exactly."""

    def test_replay_kea_capture(self):
        """Replaying Kea's session gives Kea's answers, in order, byte for byte."""
        h = CommandHarness(self)
        h.clock.advance(CAPTURED_AT - h.clock.seconds())
        mismatches = []
        for request, expected in LEASE_CMDS:
            got = h.wire(request)
            if got != expected:
                mismatches.append(f"{request}\n  kea:  {expected}\n  ours: {got}")
        self.assertEqual(mismatches, [], "\n".join(mismatches))
        self.assertEqual(len(LEASE_CMDS), 405)


class HexTextTests(SynchronousTestCase):
    """Kea's hex text forms, checked directly."""

    def test_hwaddr(self):
        """Colon-separated, 1 or 2 digits per byte, up to 20 bytes; empty is allowed."""
        self.assertEqual(hwaddr_from_text("1:a2:B3"), b"\x01\xa2\xb3")
        self.assertEqual(hwaddr_from_text(""), b"")
        for bad, text in [
            ("1a1b", "invalid format of the decoded string '1a1b'"),
            ("1a::1b", "two consecutive separators (':') specified in a decoded string '1a::1b'"),
            ("zz", "'z' is not a valid hexadecimal digit in decoded string 'zz'"),
            (":".join(["01"] * 21), "address vector size exceeds MAX_HWADDR_LEN"),
        ]:
            self.assertEqual(self.assertRaises(CommandError, hwaddr_from_text, bad).text, text)

    def test_formatted_hex(self):
        """Colons, spaces, or plain hex with optional 0x and odd length."""
        self.assertEqual(decode_formatted_hex("123"), b"\x01\x23")
        self.assertEqual(decode_formatted_hex("0x0102"), b"\x01\x02")
        self.assertEqual(decode_formatted_hex("01 02"), b"\x01\x02")
        self.assertEqual(decode_formatted_hex("1:2"), b"\x01\x02")

    def test_client_id_limits(self):
        """2 to 128 bytes."""
        self.assertEqual(self.assertRaises(CommandError, client_id_from_text, "").text,
                         "Empty DUIDs are not allowed")
        self.assertEqual(self.assertRaises(CommandError, client_id_from_text, "01").text,
                         "client-id is too short (1), at least 2 is required")
        self.assertEqual(len(client_id_from_text("ab" * 128)), 128)

    def test_kea_lower_is_ascii_only(self):
        """Kea lowercases bytes with tolower: 'É' stays."""
        self.assertEqual(kea_lower("HÉx.Example"), "hÉx.example")


class LeaseCommandTests(SynchronousTestCase):
    """Behaviour beyond the capture."""

    def setUp(self):
        self.h = CommandHarness(self)

    def test_ha_lease4_update_from_kea(self):
        """
        The exact lease4-update Kea 2.2's HA sends (reference 3.2) adds the
        lease with cltt = expire - valid-lft, ignoring service/origin/pool-id.
        """
        result = self.h.command("lease4-update", {
            "client-id": "01:13:2c:de:d6:23:7b", "expire": 1795597449, "force-create": True,
            "fqdn-fwd": False, "fqdn-rev": False, "hostname": "", "hw-address": "13:2c:de:d6:23:7b",
            "ip-address": "192.0.2.44", "state": 0, "subnet-id": 1, "valid-lft": 3600,
            "origin": "ha-partner", "pool-id": 0}, service=["dhcp4"])
        self.assertEqual(result, {"result": 0, "text": "IPv4 lease added."})
        stored = self.h.store.get(IPv4Address("192.0.2.44"))
        self.assertEqual((stored.cltt, stored.valid_lft, stored.client_id, stored.hwaddr),
                         (1795597449 - 3600, 3600, bytes.fromhex("01132cded6237b"),
                          bytes.fromhex("132cded6237b")))
        again = self.h.command("lease4-update", {
            "expire": 1795599000, "force-create": True, "hw-address": "13:2c:de:d6:23:7c",
            "ip-address": "192.0.2.44", "subnet-id": 1, "valid-lft": 600})
        self.assertEqual(again, {"result": 0, "text": "IPv4 lease updated."})
        stored = self.h.store.get(IPv4Address("192.0.2.44"))
        self.assertEqual((stored.cltt, stored.hwaddr, stored.client_id),
                         (1795598400, bytes.fromhex("132cded6237c"), None))

    def test_ha_lease4_del_from_kea(self):
        """The lease4-del Kea's HA sends deletes by address; a second one answers 3."""
        self.h.store.add(lease("192.0.2.44"))
        args = {"client-id": "01:13:2c:de:d6:23:7b", "expire": 1795597449, "fqdn-fwd": False,
                "fqdn-rev": False, "hostname": "", "hw-address": "13:2c:de:d6:23:7b",
                "ip-address": "192.0.2.44", "state": 0, "subnet-id": 1, "valid-lft": 3600}
        self.assertEqual(self.h.command("lease4-del", args),
                         {"result": 0, "text": "IPv4 lease deleted."})
        self.assertIsNone(self.h.store.get(IPv4Address("192.0.2.44")))
        self.assertEqual(self.h.command("lease4-del", args),
                         {"result": 3, "text": "IPv4 lease not found."})

    def test_get_page_walks_everything_in_order(self):
        """Paging from "start" with the last address of each page visits every lease once."""
        for i in range(1, 8):
            self.h.store.add(lease(f"192.0.2.{200 - i}", state=LeaseState(i % 3)))
        self.h.store.add(lease("198.51.100.1", subnet_id=2))
        seen, start = [], "start"
        while True:
            result = self.h.command("lease4-get-page", {"from": start, "limit": 3})
            page = result["arguments"]["leases"]
            self.assertEqual(result["arguments"]["count"], len(page))
            if not page:
                self.assertEqual(result["result"], 3)
                break
            seen.extend(entry["ip-address"] for entry in page)
            start = page[-1]["ip-address"]
        self.assertEqual(seen, [str(a) for a in sorted(IPv4Address(s) for s in seen)])
        self.assertEqual(len(seen), 8)

    def test_wipe_spares_unconfigured_subnets(self):
        """Wiping "all" wipes the configured subnets, as Kea iterates its subnets."""
        self.h.store.add(lease("192.0.2.5"))
        self.h.store.add(lease("10.0.0.5", subnet_id=9))
        self.assertEqual(self.h.command("lease4-wipe"),
                         {"result": 0, "text": "Deleted 1 IPv4 lease(s) from subnet(s) 1 2"})
        self.assertEqual(len(self.h.store.get_all()), 1)

    def test_bad_arguments_change_nothing(self):
        """A rejected lease4-update leaves the store as it was."""
        self.h.store.add(lease("192.0.2.5"))
        before = self.h.store.get_all()
        result = self.h.command("lease4-update", {"ip-address": "192.0.2.5", "hw-address": "zz"})
        self.assertEqual(result["result"], 1)
        self.assertEqual(self.h.store.get_all(), before)

    def test_resend_ddns_without_arguments(self):
        """Kea 2.2 crashes here (an assertion); we answer that the address is missing."""
        self.assertEqual(self.h.command("lease4-resend-ddns"),
                         {"result": 1, "text": "'ip-address' parameter is missing."})


class PersistenceTests(SynchronousTestCase):
    """Commands change leases through the store, so a memfile store writes them."""

    def test_commands_reach_the_lease_file(self):
        """lease4-add, -update and -del are appended to the CSV lease file."""
        path = self.mktemp()
        store = MemfileLeaseStore(LeaseDatabaseConfig(name=path), clock=None)
        store.open()
        self.addCleanup(store.close)
        h = CommandHarness(self, store=store)
        h.command("lease4-add", {"ip-address": "192.0.2.10", "hw-address": "1a:1b:1c:1d:1e:1f"})
        h.command("lease4-update", {"ip-address": "192.0.2.10", "hw-address": "1a:1b:1c:1d:1e:1f",
                                    "hostname": "Host.Example"})
        h.command("lease4-del", {"ip-address": "192.0.2.10"})
        store.flush()
        with open(path) as f:
            rows = f.read().splitlines()
        self.assertTrue(rows[0].startswith("address,hwaddr,client_id,valid_lifetime"))
        self.assertEqual([row.split(",")[0] for row in rows[1:]], ["192.0.2.10"] * 3)
        self.assertEqual(rows[2].split(",")[8], "host.example")
        self.assertEqual(rows[3].split(",")[3], "0")
