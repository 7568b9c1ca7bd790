"""
Tests for L{kea_ha_tw.leases.kea_json}: Kea 2.2's lease JSON.

The examples of section 3 of the Kea HA reference were captured from Kea
2.2.0 on the wire; L{KEA_GET_ALL} is Kea 2.2.0's C{lease4-get-all} answer
over the leases of L{tests.test_csvformat.KEA_LFC_OUTPUT} (Kea loaded
that file; 10.1.2.3 had expired and was reclaimed and flushed by then).
"""

import json
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.leases.csvformat import decode_row
from kea_ha_tw.leases.kea_json import (
    lease_from_element, lease_to_element, text_from_kea_bytes)
from kea_ha_tw.leases.model import Lease4, LeaseState
from tests.test_csvformat import KEA_LFC_OUTPUT

KEA_GET_ALL = (
    b'{ "arguments": { "leases": [ { "cltt": 1795600678, "fqdn-fwd": false, "f'
    b'qdn-rev": false, "hostname": "", "hw-address": "", "ip-address": "192.0.'
    b'2.100", "state": 1, "subnet-id": 1, "valid-lft": 86400 }, { "client-id":'
    b' "01:00:0c:01:02:03:06", "cltt": 1795600671, "fqdn-fwd": false, "fqdn-re'
    b'v": false, "hostname": "myhost", "hw-address": "00:0c:01:02:03:06", "ip-'
    b'address": "192.0.2.102", "state": 0, "subnet-id": 1, "valid-lft": 3600 }'
    b', { "cltt": 1795600612, "fqdn-fwd": false, "fqdn-rev": false, "hostname"'
    b': "", "hw-address": "", "ip-address": "192.0.2.120", "state": 1, "subnet'
    b'-id": 1, "valid-lft": 86400 }, { "cltt": 1795600612, "fqdn-fwd": false, '
    b'"fqdn-rev": false, "hostname": "", "hw-address": "aa:bb:cc:dd:ee:03", "i'
    b'p-address": "192.0.2.121", "state": 2, "subnet-id": 1, "valid-lft": 3600'
    b' }, { "client-id": "01:02:03:04", "cltt": 1795600612, "fqdn-fwd": false,'
    b' "fqdn-rev": false, "hostname": "", "hw-address": "", "ip-address": "192'
    b'.0.2.122", "state": 0, "subnet-id": 1, "valid-lft": 3600 }, { "cltt": 17'
    b'95600612, "fqdn-fwd": true, "fqdn-rev": true, "hostname": "upper.example'
    b'.org", "hw-address": "aa:bb:cc:dd:ee:04", "ip-address": "192.0.2.124", "'
    b'state": 0, "subnet-id": 1, "valid-lft": 3600 }, { "cltt": 1795600612, "f'
    b'qdn-fwd": false, "fqdn-rev": false, "hostname": "h\\u00e9.ex&#x2c;ample",'
    b' "hw-address": "aa:bb:cc:dd:ee:05", "ip-address": "192.0.2.125", "state"'
    b': 0, "subnet-id": 1, "valid-lft": 3600 }, { "client-id": "ff:00:00:00:00'
    b':00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00'
    b':00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00'
    b':00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00'
    b':00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00'
    b':00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00'
    b':00:00:00", "cltt": 1795600612, "fqdn-fwd": false, "fqdn-rev": false, "h'
    b'ostname": "", "hw-address": "01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0'
    b'f:10:11:12:13:14", "ip-address": "192.0.2.127", "state": 0, "subnet-id":'
    b' 1, "valid-lft": 4294967295 }, { "cltt": 1795600651, "fqdn-fwd": false, '
    b'"fqdn-rev": false, "hostname": "caf\\u00c3\\u00a9,x", "hw-address": "0a:0b'
    b':0c:0d:0e:31", "ip-address": "192.0.2.131", "state": 0, "subnet-id": 1, '
    b'"user-context": { "\xc3\xa9k": "\\u00c3\\u00a9" }, "valid-lft": 3600 }, { "cltt"'
    b': 1795600651, "fqdn-fwd": false, "fqdn-rev": false, "hostname": "", "hw-'
    b'address": "0a:0b:0c:0d:0e:32", "ip-address": "192.0.2.132", "state": 0, '
    b'"subnet-id": 1, "user-context": { "ISC": { "relay-agent-info": { "sub-op'
    b'tions": "0104AABBCCDD" } } }, "valid-lft": 3600 }, { "cltt": 1795600612,'
    b' "fqdn-fwd": false, "fqdn-rev": false, "hostname": "upd,ated", "hw-addre'
    b'ss": "aa:bb:cc:dd:ee:22", "ip-address": "192.0.2.151", "state": 0, "subn'
    b'et-id": 1, "valid-lft": 7200 }, { "cltt": 1795599812, "fqdn-fwd": false,'
    b' "fqdn-rev": false, "hostname": "", "hw-address": "aa:bb:cc:dd:ee:60", "'
    b'ip-address": "192.0.2.160", "state": 0, "subnet-id": 1, "valid-lft": 180'
    b'0 } ] }, "result": 0, "text": "12 IPv4 lease(s) found." }'
)

# Section 3.2: what Kea 2.2 sent to its partner after a DHCPACK.
CAPTURED_UPDATE = {
    "client-id": "01:13:2c:de:d6:23:7b", "expire": 1795597449, "force-create": True,
    "fqdn-fwd": False, "fqdn-rev": False, "hostname": "", "hw-address": "13:2c:de:d6:23:7b",
    "ip-address": "192.0.2.44", "state": 0, "subnet-id": 1, "valid-lft": 3600}
# Section 3.3: what it sent after a DHCPRELEASE.
CAPTURED_DELETE = {
    "client-id": "01:13:2c:de:d6:23:7b", "expire": 1795597449, "fqdn-fwd": False,
    "fqdn-rev": False, "hostname": "", "hw-address": "13:2c:de:d6:23:7b",
    "ip-address": "192.0.2.44", "state": 0, "subnet-id": 1, "valid-lft": 3600}
# Section 3.4: a lease4-get-page entry.
PAGE_ENTRY = {
    "client-id": "01:aa:bb:cc:dd:ee:01", "cltt": 1795593702, "fqdn-fwd": False,
    "fqdn-rev": False, "hostname": "host,one&x", "hw-address": "aa:bb:cc:dd:ee:01",
    "ip-address": "192.0.2.150", "state": 0, "subnet-id": 1, "user-context": {"a": "b,c"},
    "valid-lft": 3600}
# Section 3.5: a lease4-get-all entry.
GET_ALL_ENTRY = {
    "cltt": 1795593702, "fqdn-fwd": False, "fqdn-rev": False, "hostname": "",
    "hw-address": "aa:bb:cc:dd:ee:02", "ip-address": "192.0.2.151", "state": 0,
    "subnet-id": 1, "valid-lft": 3600}


def kea_strings_as_text(value):
    """Undo Kea's per-byte C{\\u00XX} escapes (what the wire codec does)."""
    if isinstance(value, str):
        return text_from_kea_bytes(value)
    if isinstance(value, dict):
        return {text_from_kea_bytes(k): kea_strings_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [kea_strings_as_text(v) for v in value]
    return value


def kea_get_all() -> list[dict]:
    """The leases of L{KEA_GET_ALL}, strings as text."""
    answer = json.loads(KEA_GET_ALL.decode("latin-1"))
    return [kea_strings_as_text(e) for e in answer["arguments"]["leases"]]


class ToElementTests(SynchronousTestCase):
    """lease_to_element is Kea's Lease4::toElement."""

    def test_page_entry(self):
        """A lease with client id and user context gives Kea's page entry."""
        got = lease_to_element(lease_from_element(PAGE_ENTRY))
        self.assertEqual(got, PAGE_ENTRY)
        self.assertEqual(list(got), sorted(got))

    def test_without_client_id(self):
        """client-id and user-context are left out when not set."""
        got = lease_to_element(lease_from_element(GET_ALL_ENTRY))
        self.assertEqual(got, GET_ALL_ENTRY)
        self.assertNotIn("client-id", got)
        self.assertNotIn("user-context", got)

    def test_with_expire(self):
        """HA's lease4-update/-del carry expire = cltt + valid-lft instead of cltt."""
        lease = Lease4(address=IPv4Address("192.0.2.44"), hwaddr=bytes.fromhex("132cded6237b"),
                       client_id=bytes.fromhex("01132cded6237b"), valid_lft=3600,
                       cltt=1795597449 - 3600, subnet_id=1)
        self.assertEqual(lease_to_element(lease, with_expire=True), CAPTURED_DELETE)
        update = dict(lease_to_element(lease, with_expire=True), **{"force-create": True})
        self.assertEqual(update, CAPTURED_UPDATE)

    def test_declined(self):
        """A declined lease has an empty hw-address and state 1."""
        lease = Lease4(address=IPv4Address("192.0.2.100"), hwaddr=b"", client_id=None,
                       valid_lft=86400, cltt=1795600678, subnet_id=1,
                       state=LeaseState.DECLINED)
        self.assertEqual(lease_to_element(lease), kea_get_all()[0])

    def test_kea_get_all(self):
        """Every lease Kea loaded from a file gives exactly Kea's element."""
        rows = KEA_LFC_OUTPUT.decode("utf-8", "surrogateescape").splitlines()[1:]
        by_address = {row.split(",")[0]: decode_row(row) for row in rows}
        elements = kea_get_all()
        self.assertEqual(len(elements), 12)
        for element in elements:
            lease = by_address[element["ip-address"]]
            self.assertEqual(lease_to_element(lease), element)


class FromElementTests(SynchronousTestCase):
    """lease_from_element is Kea's Lease4::fromElement (as HA's sync uses it)."""

    def test_page_entry(self):
        """A page entry gives the lease it describes."""
        self.assertEqual(lease_from_element(PAGE_ENTRY), Lease4(
            address=IPv4Address("192.0.2.150"), hwaddr=bytes.fromhex("aabbccddee01"),
            client_id=bytes.fromhex("01aabbccddee01"), valid_lft=3600, cltt=1795593702,
            subnet_id=1, hostname="host,one&x", user_context={"a": "b,c"}))

    def test_kea_get_all(self):
        """Every element of Kea's lease4-get-all reads back as the lease Kea stored."""
        rows = KEA_LFC_OUTPUT.decode("utf-8", "surrogateescape").splitlines()[1:]
        by_address = {row.split(",")[0]: decode_row(row) for row in rows}
        for element in kea_get_all():
            self.assertEqual(lease_from_element(element), by_address[element["ip-address"]])

    def test_update_with_expire(self):
        """A lease4-update (expire, no cltt) gives cltt = expire - valid-lft."""
        got = lease_from_element(CAPTURED_UPDATE)
        self.assertEqual((got.cltt, got.expire), (1795597449 - 3600, 1795597449))

    def test_now(self):
        """Without cltt and expire, C{now} is the cltt when given."""
        element = dict(GET_ALL_ENTRY)
        del element["cltt"]
        self.assertEqual(lease_from_element(element, now=1234.7).cltt, 1234)
        e = self.assertRaises(ValueError, lease_from_element, element)
        self.assertEqual(str(e), "cltt is not present in the parsed lease or it is not a number")

    def test_hostname_lowercased(self):
        """The hostname is lowercased (ASCII letters only, as C{boost::to_lower})."""
        element = dict(PAGE_ENTRY, hostname="Host.EXAMPLE.Org-É")
        self.assertEqual(lease_from_element(element).hostname, "host.example.org-É")

    def test_client_id_forms(self):
        """client-id accepts colon and plain hex."""
        for text in ("01:02:03", "010203", "0x010203"):
            self.assertEqual(lease_from_element(dict(PAGE_ENTRY, **{"client-id": text}))
                             .client_id, b"\x01\x02\x03")

    def test_empty_hw_address(self):
        """An empty hw-address is allowed (declined leases)."""
        self.assertEqual(lease_from_element(dict(PAGE_ENTRY, **{"hw-address": ""})).hwaddr, b"")

    def test_valid_lft_uint32(self):
        """Kea keeps valid-lft in 32 bits."""
        self.assertEqual(lease_from_element(dict(PAGE_ENTRY, **{"valid-lft": 2**32 + 5}))
                         .valid_lft, 5)

    def test_errors(self):
        """Each check fails with Kea's text, in Kea's order."""
        base = PAGE_ENTRY
        cases = [
            ([], "parsed lease data is not a JSON map"),
            ({k: v for k, v in base.items() if k != "ip-address"},
             "ip-address not present in the parsed lease or it is not a string"),
            (dict(base, **{"ip-address": 5}),
             "ip-address not present in the parsed lease or it is not a string"),
            (dict(base, **{"ip-address": "192.0.2.300"}),
             "invalid IP address 192.0.2.300 in the parsed lease"),
            (dict(base, **{"subnet-id": "1"}),
             "subnet-id not present in the parsed lease or it is not a number"),
            (dict(base, **{"subnet-id": True}),
             "subnet-id not present in the parsed lease or it is not a number"),
            (dict(base, **{"subnet-id": 0}), "subnet-id 0 is not a positive integer"),
            (dict(base, **{"subnet-id": 2**32}),
             "subnet-id 4294967296 is not a 32 bit unsigned integer"),
            (dict(base, **{"hw-address": 1}), "hw-address is not a string in the parsed lease"),
            (dict(base, **{"hw-address": "0102.0304.0508"}),
             "invalid hardware address 0102.0304.0508 in the parsed lease"),
            (dict(base, cltt=1.5), "cltt is not present in the parsed lease or it is not a number"),
            (dict(base, cltt=0), "cltt 0 is not a positive integer in the parsed lease"),
            (dict(base, **{"valid-lft": None}),
             "valid-lft is not present in the parsed lease or it is not a number"),
            (dict(base, **{"valid-lft": -1}), "valid-lft -1 is negative in the parsed lease"),
            (dict(base, **{"fqdn-fwd": 0}),
             "fqdn-fwd is not present in the parsed lease or it is not a boolean value"),
            ({k: v for k, v in base.items() if k != "fqdn-rev"},
             "fqdn-rev is not present in the parsed lease or it is not a boolean value"),
            (dict(base, hostname=None),
             "hostname is not present in the parsed lease or it is not a string value"),
            (dict(base, state="0"),
             "state is not present in the parsed lease or it is not a number"),
            (dict(base, state=3), "state 3 must be in range [0..2]"),
            (dict(base, state=-1), "state -1 must be in range [0..2]"),
            (dict(base, **{"user-context": [1]}), "user context is not a map"),
            (dict(base, **{"ip-address": "2001:db8::1"}),
             "address 2001:db8::1 it not an IPv4 address"),
            ({k: v for k, v in base.items() if k != "hw-address"},
             "hw-address not present in the parsed lease"),
            (dict(base, **{"client-id": 7}),
             "client identifier is not a string in the parsed lease"),
            (dict(base, **{"client-id": "01"}), "invalid client identifier 01 in the parsed lease"),
            (dict(base, **{"client-id": ""}), "invalid client identifier  in the parsed lease"),
        ]
        for element, text in cases:
            e = self.assertRaises(ValueError, lease_from_element, element)
            self.assertEqual(str(e), text)

    def test_expire_errors(self):
        """The expire form has lease_cmds' checks."""
        base = {k: v for k, v in CAPTURED_UPDATE.items() if k != "force-create"}
        for expire, text in ((0, "expiration time must be positive for address 192.0.2.44"),
                             (100, "expiration time must be greater than valid lifetime for"
                                   " address 192.0.2.44"),
                             ("1", "expire is not a number in the parsed lease")):
            e = self.assertRaises(ValueError, lease_from_element, dict(base, expire=expire))
            self.assertEqual(str(e), text)

    def test_round_trip(self):
        """to_element then from_element gives the same lease, in both forms."""
        lease = lease_from_element(PAGE_ENTRY)
        self.assertEqual(lease_from_element(lease_to_element(lease)), lease)
        self.assertEqual(lease_from_element(lease_to_element(lease, with_expire=True)), lease)
