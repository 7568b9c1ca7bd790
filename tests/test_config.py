"""
Tests for L{kea_ha_tw.config.loader} (and the modules it uses): reading
Kea 2.2 configuration text, the Dhcp4 validation rules, round trips of the
reference configurations, and C{config_to_element}.

"[Kea -t]" in a case's description means Kea 2.2.0's C{kea-dhcp4 -t} was
run on the same configuration and refused (or accepted) it the same way,
with the error text quoted; "[Kea start]" means a real start was needed
(Kea 2.2's C{-t} does not run those checks). "[Kea accepts]" marks the
few places where we are deliberately stricter than Kea.
"""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

from twisted.logger import globalLogPublisher
from twisted.internet.testing import EventLoggingObserver
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.jsonc import JSONCError, loads
from kea_ha_tw.config.loader import (
    IGNORED_DHCP4_KEYS,
    IMPLEMENTED_DHCP4_KEYS,
    config_to_element,
    load_config,
    parse_config,
)
from kea_ha_tw.config.model import ServerConfig
from kea_ha_tw.errors import ConfigError
from tests.configs import (
    HOOKS,
    HOT_STANDBY,
    LOAD_BALANCING,
    OPTION_A,
    PASSIVE_BACKUP,
    SEED_TEXT,
    subnet,
    text,
)


class RejectMixin:
    """assertRejects: the configuration fails with this path and reason."""

    def assertRejects(self, config, path, reason):  # noqa: N802 (unittest style)
        """Parse C{config} (a Dhcp4 map or text); expect ConfigError(path, ...reason...)."""
        source = config if isinstance(config, str) else text(config)
        e = self.assertRaises(ConfigError, parse_config, source)
        self.assertEqual(e.path, path)
        self.assertIn(reason, e.message)
        return e


# (test name, description, Dhcp4 map or file text, expected path, reason).
DHCP4_FAILURES = [
    (
        "unknown_global_key",
        'An unknown Dhcp4 key is refused [Kea -t: got unexpected keyword "foo-bar" in Dhcp4 map.]',
        {"foo-bar": 1},
        "Dhcp4.foo-bar",
        'got unexpected keyword "foo-bar" in Dhcp4 map.',
    ),
    (
        "unknown_subnet_key",
        "An unknown subnet4 key is refused [Kea -t]",
        {"subnet4": [subnet(foo=1)]},
        "Dhcp4.subnet4[0].foo",
        'got unexpected keyword "foo" in subnet4 map.',
    ),
    (
        "unknown_pool_key",
        "An unknown pools key is refused [Kea -t]",
        {"subnet4": [subnet(pools=[{"pool": "192.0.2.1-192.0.2.5", "foo": 1}])]},
        "Dhcp4.subnet4[0].pools[0].foo",
        'got unexpected keyword "foo" in pools map.',
    ),
    (
        "unknown_lease_db_key",
        "An unknown lease-database key is refused [Kea -t]",
        {"lease-database": {"type": "memfile", "bar": 1}},
        "Dhcp4.lease-database.bar",
        "unexpected keyword",
    ),
    (
        "ignored_key_type",
        "An accepted-but-ignored key must still have Kea's type [Kea -t: expecting boolean]",
        {"ddns-send-updates": "yes"},
        "Dhcp4.ddns-send-updates",
        "expected boolean, got string",
    ),
    ("dhcp4_not_map", "Dhcp4 must be a map", '{"Dhcp4": []}', "Dhcp4", "expected map, got list"),
    (
        "no_dhcp4",
        "A file without Dhcp4 is refused [Kea -t: expecting Dhcp4]",
        '{"Control-agent": {}}',
        "Dhcp4",
        "missing 'Dhcp4'",
    ),
    (
        "valid_lifetime_type",
        "valid-lifetime must be an integer [Kea -t: expecting integer]",
        {"valid-lifetime": "3600"},
        "Dhcp4.valid-lifetime",
        "expected integer, got string",
    ),
    (
        "valid_lifetime_negative",
        "A negative valid-lifetime is refused [Kea accepts]",
        {"valid-lifetime": -1},
        "Dhcp4.valid-lifetime",
        "'valid-lifetime' must not be negative",
    ),
    (
        "valid_lifetime_too_big",
        "valid-lifetime is a uint32 [Kea accepts]",
        {"valid-lifetime": 2**32},
        "Dhcp4.valid-lifetime",
        "must not be greater than 4294967295",
    ),
    (
        "t1_percent_int",
        "t1-percent must be a real number [Kea -t: expecting floating point]",
        {"t1-percent": 1},
        "Dhcp4.t1-percent",
        "expected real, got integer",
    ),
    (
        "min_above_max",
        "min-valid-lifetime > max-valid-lifetime [Kea -t]",
        {"valid-lifetime": 100, "min-valid-lifetime": 200, "max-valid-lifetime": 150},
        "Dhcp4.valid-lifetime",
        "the value of min-valid-lifetime (200) is not less than max-valid-lifetime (150)",
    ),
    (
        "valid_below_min",
        "valid-lifetime < min-valid-lifetime [Kea -t]",
        {"valid-lifetime": 100, "min-valid-lifetime": 200},
        "Dhcp4.valid-lifetime",
        "the value of min-valid-lifetime (200) is not less than (default) valid-lifetime (100)",
    ),
    (
        "default_above_max",
        "The default valid-lifetime 7200 above max-valid-lifetime [Kea -t]",
        {"max-valid-lifetime": 200},
        "Dhcp4.valid-lifetime",
        "the value of (default) valid-lifetime (7200) is not less than max-valid-lifetime (200)",
    ),
    (
        "subnet_renew_above_rebind",
        "renew-timer > rebind-timer in a subnet [Kea -t]",
        {"subnet4": [subnet(**{"renew-timer": 2000, "rebind-timer": 1000})]},
        "Dhcp4.subnet4[0].renew-timer",
        "the value of renew-timer (2000) is greater than the value of rebind-timer (1000)",
    ),
    (
        "inherited_renew_above_rebind",
        "A global renew-timer is inherited into the subnet check [Kea -t]",
        {"renew-timer": 2000, "subnet4": [subnet(**{"rebind-timer": 1000})]},
        "Dhcp4.subnet4[0].rebind-timer",
        "the value of renew-timer (2000) is greater than the value of rebind-timer (1000)",
    ),
    (
        "subnet_lifetime_range",
        "The inherited default 7200 must lie in the subnet's min..max [Kea -t]",
        {"subnet4": [subnet(**{"min-valid-lifetime": 100, "max-valid-lifetime": 200})]},
        "Dhcp4.subnet4[0].valid-lifetime",
        "the value of (default) valid-lifetime (7200) is not between min-valid-lifetime (100) and "
        "max-valid-lifetime (200)",
    ),
    (
        "t1_percent_range",
        "t1-percent outside (0, 1) with calculate-tee-times [Kea -t]",
        {"subnet4": [subnet(**{"t1-percent": 1.5, "calculate-tee-times": True})]},
        "Dhcp4.subnet4[0].t1-percent",
        "t1-percent:  1.5 is invalid it must be greater than 0.0 and less than 1.0",
    ),
    (
        "inherited_t1_percent",
        "A global t1-percent is checked in each subnet [Kea -t]",
        {"t1-percent": 1.5, "calculate-tee-times": True, "subnet4": [subnet()]},
        "Dhcp4.subnet4[0].t1-percent",
        "t1-percent:  1.5 is invalid",
    ),
    (
        "t1_not_below_t2",
        "t1-percent >= t2-percent with calculate-tee-times [Kea source]",
        {
            "subnet4": [
                subnet(**{"t1-percent": 0.9, "t2-percent": 0.8, "calculate-tee-times": True})
            ]
        },
        "Dhcp4.subnet4[0].t1-percent",
        "t1-percent:  0.9 is invalid, it must be less than t2-percent: 0.8",
    ),
    (
        "decline_negative",
        "decline-probation-period must not be negative [Kea -t]",
        {"decline-probation-period": -5},
        "Dhcp4.decline-probation-period",
        "out of range value (-5) specified for parameter 'decline-probation-period'",
    ),
    (
        "next_server_bad",
        "next-server must be an IPv4 address [Kea -t, subnet level]",
        {"subnet4": [subnet(**{"next-server": "foo"})]},
        "Dhcp4.subnet4[0].next-server",
        "invalid parameter next-server : foo",
    ),
    (
        "server_hostname_long",
        "server-hostname is at most 63 bytes [Kea -t, subnet level]",
        {"subnet4": [subnet(**{"server-hostname": "a" * 64})]},
        "Dhcp4.subnet4[0].server-hostname",
        "server-hostname must be at most 63 bytes long, it is 64",
    ),
    (
        "boot_file_name_long",
        "boot-file-name fits the 128-byte file field",
        {"boot-file-name": "a" * 129},
        "Dhcp4.boot-file-name",
        "boot-file-name must be at most 128 bytes long",
    ),
    (
        "subnet_missing",
        "A subnet needs 'subnet' [Kea -t: missing parameter 'subnet']",
        {"subnet4": [{"id": 1}]},
        "Dhcp4.subnet4[0].subnet",
        "missing parameter 'subnet'",
    ),
    (
        "subnet_syntax",
        "A subnet needs prefix/len [Kea -t]",
        {"subnet4": [{"subnet": "192.0.2.0"}]},
        "Dhcp4.subnet4[0].subnet",
        "Invalid subnet syntax (prefix/len expected):192.0.2.0",
    ),
    (
        "subnet_v6",
        "An IPv6 subnet is refused [Kea -t]",
        {"subnet4": [{"subnet": "2001:db8::/64"}]},
        "Dhcp4.subnet4[0].subnet",
        "Non IPv4 prefix 2001:db8:: specified in subnet4",
    ),
    (
        "subnet_prefix_len",
        "A prefix length above 32 is refused [Kea -t]",
        {"subnet4": [{"subnet": "192.0.2.0/33"}]},
        "Dhcp4.subnet4[0].subnet",
        "Invalid prefix length specified for subnet: 33",
    ),
    (
        "subnet_dup_prefix",
        "Two subnets with one prefix are refused [Kea -t]",
        {"subnet4": [subnet(id=1), subnet(id=2)]},
        "Dhcp4.subnet4[1].subnet",
        "subnet with the prefix of '192.0.2.0/24' already exists",
    ),
    (
        "subnet_dup_id",
        "Two subnets with one id are refused [Kea -t]",
        {"subnet4": [subnet(id=1), {"subnet": "192.0.3.0/24", "id": 1}]},
        "Dhcp4.subnet4[1].id",
        "ID of the new IPv4 subnet '1' is already in use",
    ),
    (
        "subnet_auto_id_clash",
        "An automatic id clashing with an explicit one [Kea -t: [2, auto, auto] fails]",
        {
            "subnet4": [
                {"subnet": "10.0.1.0/24", "id": 2},
                {"subnet": "10.0.2.0/24"},
                {"subnet": "10.0.3.0/24"},
            ]
        },
        "Dhcp4.subnet4[2]",
        "ID of the new IPv4 subnet '2' is already in use",
    ),
    (
        "subnet_id_range",
        "Subnet ids stop at 4294967294 [Kea -t]",
        {"subnet4": [subnet(id=4294967295)]},
        "Dhcp4.subnet4[0].id",
        "The 'id' value (4294967295) is not within expected range: (0 - 4294967294)",
    ),
    (
        "pool_outside",
        "A pool outside its subnet [Kea -t]",
        {"subnet4": [subnet(pools=[{"pool": "192.0.3.1-192.0.3.5"}])]},
        "Dhcp4.subnet4[0].pools[0].pool",
        "a pool of type V4, with the following address range: 192.0.3.1-192.0.3.5 does not match "
        "the prefix of a subnet: 192.0.2.0/24",
    ),
    (
        "pool_partly_outside",
        "A pool reaching past its subnet [Kea -t]",
        {"subnet4": [subnet(pools=[{"pool": "192.0.2.250-192.0.3.5"}])]},
        "Dhcp4.subnet4[0].pools[0].pool",
        "does not match the prefix of a subnet",
    ),
    (
        "pool_reversed",
        "A pool whose end precedes its start [Kea -t]",
        {"subnet4": [subnet(pools=[{"pool": "192.0.2.50-192.0.2.10"}])]},
        "Dhcp4.subnet4[0].pools[0].pool",
        "Failed to create pool defined by: 192.0.2.50-192.0.2.10",
    ),
    (
        "pool_overlap",
        "Overlapping pools in a subnet [Kea -t]",
        {
            "subnet4": [
                subnet(pools=[{"pool": "192.0.2.10-192.0.2.50"}, {"pool": "192.0.2.50-192.0.2.60"}])
            ]
        },
        "Dhcp4.subnet4[0].pools[1].pool",
        "a pool of type V4, with the following address range: 192.0.2.50-192.0.2.60 overlaps with "
        "an existing pool in the subnet: 192.0.2.0/24",
    ),
    (
        "pool_garbage",
        "A pool that is neither a range nor a prefix [Kea -t]",
        {"subnet4": [subnet(pools=[{"pool": "foo"}])]},
        "Dhcp4.subnet4[0].pools[0].pool",
        "invalid pool definition: foo. There are two acceptable formats <min address-max address> "
        "or <prefix/len>",
    ),
    (
        "pool_single_address",
        "A single address is not a pool [Kea -t]",
        {"subnet4": [subnet(pools=[{"pool": "192.0.2.10"}])]},
        "Dhcp4.subnet4[0].pools[0].pool",
        "invalid pool definition: 192.0.2.10.",
    ),
    (
        "pool_missing",
        "A pools entry needs 'pool' [Kea -t]",
        {"subnet4": [subnet(pools=[{"client-class": "x"}])]},
        "Dhcp4.subnet4[0].pools[0].pool",
        "missing parameter 'pool'",
    ),
    (
        "relay_both",
        "relay takes ip-address or ip-addresses, not both [Kea -t: syntax error]",
        {"subnet4": [subnet(relay={"ip-address": "10.0.0.1", "ip-addresses": ["10.0.0.2"]})]},
        "Dhcp4.subnet4[0].relay",
        "only one of ip-address and ip-addresses",
    ),
    (
        "relay_empty",
        "An empty relay map [Kea -t: expecting ip-address or ip-addresses]",
        {"subnet4": [subnet(relay={})]},
        "Dhcp4.subnet4[0].relay",
        "expecting ip-address or ip-addresses",
    ),
    (
        "relay_bad_address",
        "A relay address must be IPv4 [Kea -t]",
        {"subnet4": [subnet(relay={"ip-addresses": ["10.0.0.1", "::1"]})]},
        "Dhcp4.subnet4[0].relay.ip-addresses[1]",
        "address ::1 is not a valid IPv4 address",
    ),
    (
        "interfaces_missing",
        "interfaces-config needs interfaces [Kea -t: syntax error]",
        {"interfaces-config": {}},
        "Dhcp4.interfaces-config.interfaces",
        "missing parameter 'interfaces'",
    ),
    (
        "socket_type",
        "dhcp-socket-type is raw or udp [Kea -t]",
        {"interfaces-config": {"interfaces": [], "dhcp-socket-type": "tcp"}},
        "Dhcp4.interfaces-config.dhcp-socket-type",
        "expecting raw or udp",
    ),
    (
        "outbound",
        "outbound-interface is same-as-inbound or use-routing [Kea -t]",
        {"interfaces-config": {"interfaces": [], "outbound-interface": "foo"}},
        "Dhcp4.interfaces-config.outbound-interface",
        "expecting same-as-inbound or use-routing",
    ),
    (
        "lease_db_mysql",
        "Only memfile is supported (Kea accepts mysql)",
        {"lease-database": {"type": "mysql", "name": "x"}},
        "Dhcp4.lease-database.type",
        "lease database type 'mysql' is not supported by kea-ha-tw (only memfile)",
    ),
    (
        "lease_db_bogus",
        "An unknown lease database type [Kea -t]",
        {"lease-database": {"type": "bogus"}},
        "Dhcp4.lease-database.type",
        "expecting memfile or mysql or postgresql",
    ),
    (
        "lease_db_no_type",
        "lease-database needs type [Kea -t: missing parameter 'type']",
        {"lease-database": {"persist": False}},
        "Dhcp4.lease-database.type",
        "missing parameter 'type'",
    ),
    (
        "lfc_negative",
        "lfc-interval is a uint32 [Kea -t]",
        {"lease-database": {"type": "memfile", "lfc-interval": -1}},
        "Dhcp4.lease-database.lfc-interval",
        "lfc-interval value: -1 is out of range, expected value: 0..4294967295",
    ),
    (
        "max_row_errors_big",
        "max-row-errors is a uint32 [Kea -t]",
        {"lease-database": {"type": "memfile", "max-row-errors": 2**32}},
        "Dhcp4.lease-database.max-row-errors",
        "max-row-errors value: 4294967296 is out of range",
    ),
    (
        "persist_type",
        "persist is a boolean [Kea -t: expecting boolean]",
        {"lease-database": {"type": "memfile", "persist": "true"}},
        "Dhcp4.lease-database.persist",
        "expected boolean, got string",
    ),
    (
        "fsync_value",
        "Our fsync extension is none or always",
        {"lease-database": {"type": "memfile", "fsync": "sometimes"}},
        "Dhcp4.lease-database.fsync",
        "expecting none or always",
    ),
    (
        "control_socket_type",
        "control-socket is unix in Kea 2.2 [Kea start: Invalid 'socket-type' parameter value tcp]",
        {"control-socket": {"socket-type": "tcp", "socket-name": "/tmp/x"}},
        "Dhcp4.control-socket.socket-type",
        "Invalid 'socket-type' parameter value tcp",
    ),
    (
        "control_socket_name",
        "control-socket needs socket-name [Kea start]",
        {"control-socket": {"socket-type": "unix"}},
        "Dhcp4.control-socket.socket-name",
        "Mandatory 'socket-name' parameter missing",
    ),
    (
        "https_without_tls",
        "An https control socket needs TLS (Kea 3.0 rule)",
        {"control-sockets": [{"socket-type": "https"}]},
        "Dhcp4.control-sockets[0]",
        "no TLS setup for a HTTPS control socket",
    ),
    (
        "control_tls_partial",
        "TLS files are all or none (Kea 3.0 rule)",
        {"control-sockets": [{"socket-type": "http", "trust-anchor": "/ca"}]},
        "Dhcp4.control-sockets[0]",
        "cert-file parameter is missing or empty: all or none of TLS parameters must be set",
    ),
    (
        "control_http_socket_name",
        "socket-name is for unix sockets (Kea 3.0 rule)",
        {"control-sockets": [{"socket-type": "http", "socket-name": "/x"}]},
        "Dhcp4.control-sockets[0].socket-name",
        "parameter 'socket-name' is not supported by HTTP control sockets",
    ),
    (
        "control_port_range",
        "socket-port is 0..65535 (Kea 3.0 rule)",
        {"control-sockets": [{"socket-type": "http", "socket-port": 70000}]},
        "Dhcp4.control-sockets[0].socket-port",
        "out of range value 70000 specified for parameter 'socket-port'",
    ),
    (
        "control_auth_type",
        "Only basic authentication (Kea 3.0 rule)",
        {"control-sockets": [{"socket-type": "http", "authentication": {"type": "digest"}}]},
        "Dhcp4.control-sockets[0].authentication.type",
        "only basic HTTP authentication is supported",
    ),
    (
        "control_auth_user_colon",
        "A basic-auth user must not contain ':'",
        {
            "control-sockets": [
                {
                    "socket-type": "http",
                    "authentication": {"clients": [{"user": "a:b", "password": "x"}]},
                }
            ]
        },
        "Dhcp4.control-sockets[0].authentication.clients[0].user",
        "user 'a:b' must not contain a ':'",
    ),
    (
        "mt_pool_negative",
        "thread-pool-size must not be negative [Kea -t]",
        {"multi-threading": {"enable-multi-threading": True, "thread-pool-size": -4}},
        "Dhcp4.multi-threading.thread-pool-size",
        "thread pool size code must not be negative",
    ),
    (
        "expired_negative",
        "expired-leases-processing values are not negative [Kea -t]",
        {"expired-leases-processing": {"reclaim-timer-wait-time": -1}},
        "Dhcp4.expired-leases-processing.reclaim-timer-wait-time",
        "value for configuration parameter 'reclaim-timer-wait-time' must not be negative",
    ),
    (
        "expired_max_reclaim_time",
        "max-reclaim-time is at most 10000 [Kea -t]",
        {"expired-leases-processing": {"max-reclaim-time": 70000}},
        "Dhcp4.expired-leases-processing.max-reclaim-time",
        "out range value '70000' for configuration parameter 'max-reclaim-time', expected maximum "
        "value of '10000'",
    ),
    (
        "expired_unwarned",
        "unwarned-reclaim-cycles is a uint16 [Kea -t]",
        {"expired-leases-processing": {"unwarned-reclaim-cycles": 65536}},
        "Dhcp4.expired-leases-processing.unwarned-reclaim-cycles",
        "expected maximum value of '65535'",
    ),
    (
        "reservation_no_identifier",
        "A reservation needs an identifier [Kea -t]",
        {"subnet4": [subnet(reservations=[{"ip-address": "192.0.2.5"}])]},
        "Dhcp4.subnet4[0].reservations[0]",
        "one of the supported identifiers must be specified for host reservation: circuit-id, "
        "client-id, duid, flex-id, hw-address",
    ),
    (
        "reservation_two_identifiers",
        "hw-address and client-id are exclusive [Kea -t]",
        {
            "subnet4": [
                subnet(
                    reservations=[
                        {
                            "hw-address": "aa:bb:cc:dd:ee:ff",
                            "client-id": "01:02",
                            "ip-address": "192.0.2.5",
                        }
                    ]
                )
            ]
        },
        "Dhcp4.subnet4[0].reservations[0]",
        "the 'hw-address' and 'client-id' are mutually exclusive",
    ),
    (
        "reservation_bad_hw",
        "A malformed hw-address [Kea -t]",
        {
            "subnet4": [
                subnet(
                    reservations=[{"hw-address": "aa-bb-cc-dd-ee-01", "ip-address": "192.0.2.5"}]
                )
            ]
        },
        "Dhcp4.subnet4[0].reservations[0].hw-address",
        "invalid host identifier value 'aa-bb-cc-dd-ee-01'",
    ),
    (
        "reservation_empty_id",
        "An empty identifier [Kea -t]",
        {"subnet4": [subnet(reservations=[{"client-id": "", "ip-address": "192.0.2.5"}])]},
        "Dhcp4.subnet4[0].reservations[0].client-id",
        "empty host identifier used",
    ),
    (
        "reservation_hw_long",
        "hw-address is at most 20 octets [Kea -t]",
        {"subnet4": [subnet(reservations=[{"hw-address": ":".join(["aa"] * 21)}])]},
        "Dhcp4.subnet4[0].reservations[0].hw-address",
        "address vector size exceeds MAX_HWADDR_LEN",
    ),
    (
        "reservation_outside",
        "A reserved address outside the subnet [Kea -t]",
        {
            "subnet4": [
                subnet(reservations=[{"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "10.0.0.5"}])
            ]
        },
        "Dhcp4.subnet4[0].reservations[0].ip-address",
        "specified reservation '10.0.0.5' is not within the IPv4 subnet '192.0.2.0/24'",
    ),
    (
        "reservation_zero",
        "No reservation for 0.0.0.0 [Kea -t]",
        {
            "subnet4": [
                subnet(reservations=[{"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "0.0.0.0"}])
            ]
        },
        "Dhcp4.subnet4[0].reservations[0].ip-address",
        "must not make reservation for the '0.0.0.0' address",
    ),
    (
        "reservation_v6",
        "A reserved address must be IPv4 [Kea -t]",
        {
            "subnet4": [
                subnet(reservations=[{"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "::1"}])
            ]
        },
        "Dhcp4.subnet4[0].reservations[0].ip-address",
        "address '::1' is not a valid IPv4 address",
    ),
    (
        "reservation_dup_hw",
        "One hw-address reserved twice [Kea -t]",
        {
            "subnet4": [
                subnet(
                    id=1,
                    reservations=[
                        {"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "192.0.2.5"},
                        {"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "192.0.2.6"},
                    ],
                )
            ]
        },
        "Dhcp4.subnet4[0].reservations[1].hw-address",
        "failed to add new host using the HW address 'aa:bb:cc:dd:ee:ff' to the IPv4 subnet id "
        "'1' as this host has already been added",
    ),
    (
        "reservation_dup_ip",
        "One address reserved twice [Kea -t]",
        {
            "subnet4": [
                subnet(
                    reservations=[
                        {"hw-address": "aa:bb:cc:dd:ee:ff", "ip-address": "192.0.2.5"},
                        {"hw-address": "aa:bb:cc:dd:ee:fe", "ip-address": "192.0.2.5"},
                    ]
                )
            ]
        },
        "Dhcp4.subnet4[0].reservations[1].ip-address",
        "already a reservation for the address 192.0.2.5",
    ),
    (
        "option_unknown_name",
        "An option name without a definition [Kea -t]",
        {"option-data": [{"name": "foo-bar", "data": "1"}]},
        "Dhcp4.option-data[0]",
        "definition for the option 'dhcp4.foo-bar' does not exist",
    ),
    (
        "option_bad_data",
        "Option data not matching its definition, in a pool [Kea -t]",
        {
            "subnet4": [
                subnet(
                    pools=[
                        {
                            "pool": "192.0.2.10-192.0.2.20",
                            "option-data": [{"name": "routers", "data": "foo"}],
                        }
                    ]
                )
            ]
        },
        "Dhcp4.subnet4[0].pools[0].option-data[0]",
        "option data does not match option definition (space: dhcp4, code: 3): Failed to convert "
        "string to address 'foo'",
    ),
    (
        "option_in_reservation",
        "Option data is checked in reservations too [Kea -t]",
        {
            "subnet4": [
                subnet(
                    reservations=[
                        {
                            "hw-address": "aa:bb:cc:dd:ee:ff",
                            "option-data": [{"code": 256, "data": "01"}],
                        }
                    ]
                )
            ]
        },
        "Dhcp4.subnet4[0].reservations[0].option-data[0]",
        "invalid option code '256', it must not be greater than '255'",
    ),
    (
        "option_dhcp6_space",
        "The dhcp6 space is refused in Dhcp4 [Kea -t]",
        {"option-data": [{"name": "routers", "data": "1.2.3.4", "space": "dhcp6"}]},
        "Dhcp4.option-data[0].space",
        "'dhcp6' option space name is reserved for DHCPv6 server",
    ),
    (
        "option_other_space",
        "Vendor and custom spaces are not supported",
        {"option-data": [{"code": 1, "data": "01", "space": "vendor-4491"}]},
        "Dhcp4.option-data[0].space",
        "option space 'vendor-4491' is not supported by kea-ha-tw",
    ),
    (
        "option_def_override",
        "A custom definition may not override a standard one [Kea source text]",
        {"option-def": [{"name": "my-routers", "code": 3, "type": "ipv4-address"}]},
        "Dhcp4.option-def[0]",
        "unable to override definition of option '3' in standard option space 'dhcp4'",
    ),
    (
        "option_def_duplicate",
        "Two custom definitions with one code [Kea source text]",
        {
            "option-def": [
                {"name": "a", "code": 222, "type": "uint8"},
                {"name": "b", "code": 222, "type": "uint8"},
            ]
        },
        "Dhcp4.option-def[1]",
        "option definition with code '222' already exists in option space 'dhcp4'",
    ),
    (
        "option_def_type",
        "An unknown option type [Kea source text]",
        {"option-def": [{"name": "a", "code": 222, "type": "float"}]},
        "Dhcp4.option-def[0].type",
        "option type float not supported.",
    ),
    (
        "option_def_encapsulate",
        "Encapsulating definitions are not supported",
        {"option-def": [{"name": "a", "code": 222, "type": "empty", "encapsulate": "foo"}]},
        "Dhcp4.option-def[0].encapsulate",
        "option encapsulation is not supported by kea-ha-tw",
    ),
    (
        "option_def_code_pad",
        "Option code 0 is PAD [Kea source text]",
        {"option-def": [{"name": "a", "code": 0, "type": "uint8"}]},
        "Dhcp4.option-def[0].code",
        "invalid option code '0': reserved for PAD",
    ),
    (
        "hook_unsupported",
        "Only the ha and lease_cmds hook libraries are supported",
        {"hooks-libraries": [{"library": HOOKS + "libdhcp_bootp.so"}]},
        "Dhcp4.hooks-libraries[0].library",
        "supported: libdhcp_ha.so, libdhcp_lease_cmds.so",
    ),
    (
        "hook_blank",
        "A blank library name [Kea -t]",
        {"hooks-libraries": [{"library": ""}]},
        "Dhcp4.hooks-libraries[0].library",
        "value of 'library' element must not be blank",
    ),
    (
        "hook_missing_library",
        "A hooks-libraries entry needs library [Kea -t]",
        {"hooks-libraries": [{"parameters": {}}]},
        "Dhcp4.hooks-libraries[0].library",
        "missing parameter 'library'",
    ),
    (
        "hook_twice",
        "A hook library listed twice",
        {
            "hooks-libraries": [
                {"library": HOOKS + "libdhcp_lease_cmds.so"},
                {"library": "/x/libdhcp_lease_cmds.so"},
            ]
        },
        "Dhcp4.hooks-libraries[1].library",
        "libdhcp_lease_cmds.so is listed more than once",
    ),
    (
        "hook_parameters_type",
        "Hook parameters are a map [Kea -t]",
        {"hooks-libraries": [{"library": HOOKS + "libdhcp_lease_cmds.so", "parameters": []}]},
        "Dhcp4.hooks-libraries[0].parameters",
        "expected map, got list",
    ),
    (
        "duplicate_key",
        "A key repeated in one map [Kea -t: duplicate valid-lifetime entries]",
        '{"Dhcp4": {"valid-lifetime": 5,\n "valid-lifetime": 6}}',
        "<string>:2.2",
        "duplicate valid-lifetime entries in JSON map (previous at 1:12)",
    ),
    (
        "syntax_error",
        "A syntax error reports line and column",
        '{"Dhcp4": {\n  "subnet4": [1 2]}}',
        "<string>:2.17",
        'expecting "," or ]',
    ),
]


class DhcpRejectionTests(RejectMixin, SynchronousTestCase):
    """One failing configuration per Dhcp4 validation rule."""


def _add_case(cls, name, doc, config, path, reason):
    def test(self):
        self.assertRejects(config, path, reason)

    test.__doc__ = doc
    test.__name__ = "test_" + name
    setattr(cls, test.__name__, test)


for _case in DHCP4_FAILURES:
    _add_case(DhcpRejectionTests, *_case)


class ReaderTests(SynchronousTestCase):
    """The Kea-tolerant JSON reader."""

    def test_comments(self):
        """#, // and /* */ comments are skipped, but not inside strings."""
        value, warnings = loads(
            '{ # one\n "a": "x#y//z", // two\n /* three\n */ "b": [1, 2.5, true, null] }'
        )
        self.assertEqual(value, {"a": "x#y//z", "b": [1, 2.5, True, None]})
        self.assertEqual(warnings, ())

    def test_extraneous_comma(self):
        """A comma before } or ] is tolerated and reported with its position."""
        value, warnings = loads('{"a": [1,\n 2,], "b": 3,\n}')
        self.assertEqual(value, {"a": [1, 2], "b": 3})
        self.assertEqual([(w.line, w.column, w.path) for w in warnings], [(2, 3, "a"), (2, 13, "")])

    def test_errors(self):
        """Bad text raises JSONCError with a position and the JSON path."""
        e = self.assertRaises(JSONCError, loads, '{"a": {"b": [1, }]}}')
        self.assertEqual((e.line, e.column, e.path), (1, 17, "a.b[1]"))
        self.assertRaises(JSONCError, loads, '{"a": "unterminated}')
        self.assertRaises(JSONCError, loads, '{"a": 1} extra')
        self.assertRaises(JSONCError, loads, '{"a": 1 /* open')

    def test_escapes(self):
        """JSON string escapes are decoded."""
        self.assertEqual(loads('["\\u00e9\\n\\"\\\\"]')[0], ['\u00e9\n"\\'])


class AcceptanceTests(SynchronousTestCase):
    """Configurations Kea accepts load, with the values Kea would use."""

    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def test_seed_config(self):
        """
        The ARM's passive-backup example loads exactly as printed, with a
        warning for its extraneous comma at line 33 [Kea -t: accepted, with
        "seed.json:33.36: Extraneous comma", Debian hook paths substituted].
        """
        config = parse_config(SEED_TEXT, source="seed.json")
        warnings = [e for e in self.events if e.get("msg_id") == "DHCP4_CONFIG_SYNTAX_WARNING"]
        self.assertEqual([(e["line"], e["column"]) for e in warnings], [(33, 36)])
        self.assertEqual(config.ha.mode, "passive-backup")
        self.assertTrue(config.ha.wait_backup_ack)
        self.assertEqual([p.name for p in config.ha.peers], ["server1", "server2", "server3"])
        self.assertEqual([p.role for p in config.ha.peers], ["primary", "backup", "backup"])
        self.assertEqual(config.ha.peers[1].host, "192.168.56.66")
        self.assertEqual(config.ha.peers[1].port, 8000)
        self.assertEqual([h.kind for h in config.hooks], ["lease_cmds", "ha"])
        (s,) = config.subnets
        self.assertEqual((s.id, s.subnet), (1, IPv4Network("192.0.3.0/24")))
        self.assertEqual(
            (s.pools[0].start, s.pools[0].end),
            (IPv4Address("192.0.3.100"), IPv4Address("192.0.3.250")),
        )
        self.assertEqual(s.relay_addresses, (IPv4Address("10.1.2.3"),))
        self.assertEqual([(o.code, o.data) for o in s.option_data], [(3, bytes([192, 0, 3, 1]))])
        self.assertEqual(config.valid_lifetime, 7200)

    def test_defaults(self):
        """An almost empty Dhcp4 gets Kea 2.2's defaults."""
        config = parse_config(text({"subnet4": []}))
        self.assertEqual(config.valid_lifetime, 7200)
        self.assertEqual(config.decline_probation_period, 86400)
        self.assertTrue(config.match_client_id)
        self.assertTrue(config.echo_client_id)
        self.assertFalse(config.authoritative)
        self.assertEqual((config.t1_percent, config.t2_percent), (0.5, 0.875))
        self.assertEqual(config.lease_database.lfc_interval, 3600)
        self.assertEqual(config.lease_database.fsync, "none")
        self.assertEqual(config.expired_leases.max_reclaim_time, 250)
        self.assertEqual(config.dhcp_socket_type, "raw")
        self.assertEqual((config.thread_pool_size, config.packet_queue_size), (0, 64))
        self.assertIsNone(config.ha)

    def test_auto_subnet_ids(self):
        """
        Subnets without an id get 1, 2, ... in order, skipping nothing [Kea config-get: [5, auto,
        auto] -> 5, 1, 2].
        """
        config = parse_config(
            text(
                {
                    "subnet4": [
                        {"subnet": "10.0.1.0/24", "id": 5},
                        {"subnet": "10.0.2.0/24"},
                        {"subnet": "10.0.3.0/24", "id": 0},
                    ]
                }
            )
        )
        self.assertEqual([s.id for s in config.subnets], [5, 1, 2])
        element = config_to_element(config)
        self.assertEqual([s["id"] for s in element["subnet4"]], [5, 1, 2])

    def test_pool_forms(self):
        """Pools as ranges (spaces allowed) and as prefixes [Kea -t accepts both]."""
        config = parse_config(
            text(
                {
                    "subnet4": [
                        subnet(
                            pools=[
                                {"pool": "  192.0.2.10  -   192.0.2.20 "},
                                {"pool": "192.0.2.128/25", "client-class": "HA_server1"},
                            ]
                        )
                    ]
                }
            )
        )
        p1, p2 = config.subnets[0].pools
        self.assertEqual((str(p1.start), str(p1.end), p1.size), ("192.0.2.10", "192.0.2.20", 11))
        self.assertEqual(
            (str(p2.start), str(p2.end), p2.client_class),
            ("192.0.2.128", "192.0.2.255", "HA_server1"),
        )

    def test_subnet_fields(self):
        """Per-subnet timers, flags, relay list, interface and BOOTP fields are kept."""
        config = parse_config(
            text(
                {
                    "subnet4": [
                        subnet(
                            **{
                                "valid-lifetime": 600,
                                "min-valid-lifetime": 300,
                                "max-valid-lifetime": 900,
                                "renew-timer": 100,
                                "rebind-timer": 200,
                                "match-client-id": False,
                                "authoritative": True,
                                "calculate-tee-times": True,
                                "t1-percent": 0.4,
                                "t2-percent": 0.8,
                                "relay": {"ip-addresses": ["10.0.0.1", "10.0.0.2"]},
                                "interface": "eth1",
                                "next-server": "192.0.2.9",
                                "server-hostname": "boot",
                                "boot-file-name": "pxe.0",
                                "client-class": "x",
                            }
                        )
                    ]
                }
            )
        )
        s = config.subnets[0]
        self.assertEqual(
            (s.valid_lifetime, s.min_valid_lifetime, s.max_valid_lifetime), (600, 300, 900)
        )
        self.assertEqual((s.renew_timer, s.rebind_timer), (100, 200))
        self.assertEqual(
            (s.match_client_id, s.authoritative, s.calculate_tee_times), (False, True, True)
        )
        self.assertEqual((s.t1_percent, s.t2_percent), (0.4, 0.8))
        self.assertEqual(s.relay_addresses, (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")))
        self.assertEqual(
            (s.interface, s.next_server, s.server_hostname, s.boot_file_name, s.client_class),
            ("eth1", IPv4Address("192.0.2.9"), "boot", "pxe.0", "x"),
        )
        self.assertEqual(config.effective(s, "renew_timer"), 100)

    def test_renew_equal_rebind(self):
        """renew-timer equal to rebind-timer is fine [Kea -t accepts]."""
        parse_config(text({"subnet4": [subnet(**{"renew-timer": 1000, "rebind-timer": 1000})]}))

    def test_reservations(self):
        """Reservations by hw-address (any hex form) and client-id (hex or 'text')."""
        config = parse_config(
            text(
                {
                    "subnet4": [
                        subnet(
                            reservations=[
                                {
                                    "hw-address": "aabbccddeeff",
                                    "ip-address": "192.0.2.7",
                                    "hostname": "h1",
                                    "option-data": [{"name": "host-name", "data": "h1"}],
                                },
                                {"hw-address": "a:b:c:d:e:f", "ip-address": "192.0.2.8"},
                                {"client-id": "01:02:03", "ip-address": "192.0.2.9"},
                                {"client-id": "'foo'"},
                                {"duid": "01:02:03:04", "ip-address": "192.0.2.10"},
                            ]
                        )
                    ]
                }
            )
        )
        r = config.subnets[0].reservations
        self.assertEqual(len(r), 4)  # the duid reservation is ignored, with a warning
        self.assertEqual(
            (r[0].hw_address, r[0].ip_address, r[0].hostname),
            (bytes.fromhex("aabbccddeeff"), IPv4Address("192.0.2.7"), "h1"),
        )
        self.assertEqual(r[0].option_data[0].data, b"h1")
        self.assertEqual(r[1].hw_address, bytes.fromhex("0a0b0c0d0e0f"))
        self.assertEqual(r[2].client_id, b"\x01\x02\x03")
        self.assertEqual((r[3].client_id, r[3].ip_address), (b"foo", None))
        ignored = [
            e["path"]
            for e in self.events
            if e.get("msg_id") == "KHT_CONFIG_KEY_IGNORED" and e.get("kind") == "duid"
        ]
        self.assertEqual(ignored, ["Dhcp4.subnet4[0].reservations[4]"])

    def test_ignored_keys(self):
        """Keys Kea accepts but we do not implement are kept in raw and logged once each."""
        d4 = {
            "dhcp-ddns": {},
            "shared-networks": [],
            "ddns-send-updates": False,
            "subnet4": [subnet(**{"require-client-classes": ["x"], "4o6-subnet": ""})],
        }
        config = parse_config(text(d4))
        self.assertEqual(config.raw["dhcp-ddns"], {})
        ignored = sorted(
            e["path"] for e in self.events if e.get("msg_id") == "KHT_CONFIG_KEY_IGNORED"
        )
        self.assertEqual(
            ignored,
            [
                "Dhcp4.ddns-send-updates",
                "Dhcp4.dhcp-ddns",
                "Dhcp4.shared-networks",
                "Dhcp4.subnet4[0].4o6-subnet",
                "Dhcp4.subnet4[0].require-client-classes",
            ],
        )
        self.assertTrue(
            all(
                e["log_level"].name == "warn"
                for e in self.events
                if e.get("msg_id") == "KHT_CONFIG_KEY_IGNORED"
            )
        )

    def test_key_tables(self):
        """The implemented and ignored Dhcp4 key lists are disjoint and cover Kea's keys we know."""
        self.assertFalse(set(IMPLEMENTED_DHCP4_KEYS) & set(IGNORED_DHCP4_KEYS))
        for key in (
            "valid-lifetime",
            "subnet4",
            "hooks-libraries",
            "control-socket",
            "multi-threading",
            "loggers",
        ):
            self.assertIn(key, IMPLEMENTED_DHCP4_KEYS)
        for key in ("shared-networks", "client-classes", "dhcp-ddns"):
            self.assertIn(key, IGNORED_DHCP4_KEYS)

    def test_other_top_level_maps(self):
        """Other daemons' top-level maps are ignored with a warning (Kea 2.2 refuses them)."""
        config = parse_config(
            '{"Dhcp4": {"valid-lifetime": 100}, "Control-agent": {"x": 1}, "Logging": {}}'
        )
        self.assertEqual(config.valid_lifetime, 100)
        self.assertEqual(
            sorted(e["key"] for e in self.events if e.get("msg_id") == "KHT_CONFIG_KEY_IGNORED"),
            ["Control-agent", "Logging"],
        )

    def test_services(self):
        """interfaces-config, lease-database, multi-threading, control sockets, expiry."""
        config = parse_config(
            text(
                {
                    "interfaces-config": {
                        "interfaces": ["eth0", "eth1/10.0.0.1"],
                        "dhcp-socket-type": "udp",
                        "outbound-interface": "use-routing",
                        "re-detect": False,
                    },
                    "lease-database": {
                        "type": "memfile",
                        "persist": False,
                        "name": "/tmp/l.csv",
                        "lfc-interval": 0,
                        "max-row-errors": 5,
                        "fsync": "always",
                    },
                    "multi-threading": {
                        "enable-multi-threading": True,
                        "thread-pool-size": 4,
                        "packet-queue-size": 16,
                    },
                    "expired-leases-processing": {
                        "max-reclaim-time": 10000,
                        "hold-reclaimed-time": 0,
                    },
                    "control-socket": {"socket-type": "unix", "socket-name": "/run/kea/sock"},
                    "control-sockets": [
                        {
                            "socket-type": "http",
                            "socket-address": "127.0.0.5",
                            "socket-port": 8004,
                            "authentication": {
                                "realm": "r",
                                "clients": [{"user": "u", "password": "p"}],
                            },
                        }
                    ],
                    "server-tag": "tag",
                    "echo-client-id": False,
                    "decline-probation-period": 5,
                }
            )
        )
        self.assertEqual(config.interfaces, ("eth0", "eth1/10.0.0.1"))
        self.assertEqual(
            (config.dhcp_socket_type, config.outbound_interface, config.re_detect),
            ("udp", "use-routing", False),
        )
        db = config.lease_database
        self.assertEqual(
            (db.persist, db.name, db.lfc_interval, db.max_row_errors, db.fsync),
            (False, "/tmp/l.csv", 0, 5, "always"),
        )
        self.assertEqual(
            (config.multi_threading_enabled, config.thread_pool_size, config.packet_queue_size),
            (True, 4, 16),
        )
        self.assertEqual(
            (config.expired_leases.max_reclaim_time, config.expired_leases.hold_reclaimed_time),
            (10000, 0),
        )
        unix, http = config.control_sockets
        self.assertEqual((unix.socket_type, unix.socket_name), ("unix", "/run/kea/sock"))
        self.assertEqual(
            (http.socket_type, http.socket_address, http.socket_port, http.auth_realm),
            ("http", "127.0.0.5", 8004, "r"),
        )
        self.assertEqual([(c.user, c.password) for c in http.auth_clients], [("u", "p")])
        self.assertEqual(
            (config.server_tag, config.echo_client_id, config.decline_probation_period),
            ("tag", False, 5),
        )

    def test_https_control_socket(self):
        """An https control socket carries its TLS files; auth secrets can come from files."""
        pw = self.mktemp()
        with open(pw, "w") as f:
            f.write("s3cret")
        config = parse_config(
            text(
                {
                    "control-sockets": [
                        {
                            "socket-type": "https",
                            "trust-anchor": "/ca.pem",
                            "cert-file": "/c.pem",
                            "key-file": "/k.pem",
                            "cert-required": False,
                            "authentication": {"clients": [{"user": "u", "password-file": pw}]},
                        }
                    ]
                }
            )
        )
        (s,) = config.control_sockets
        self.assertEqual(
            (s.socket_type, s.tls.trust_anchor, s.tls.cert_required), ("https", "/ca.pem", False)
        )
        self.assertEqual(s.auth_clients[0].password, "s3cret")

    def test_options_levels(self):
        """Option data at global, subnet and pool level; a custom option-def is usable."""
        config = parse_config(
            text(
                {
                    "option-def": [
                        {"name": "my-opt", "code": 222, "type": "uint16", "array": True}
                    ],
                    "option-data": [
                        {"name": "domain-name-servers", "data": "10.0.0.53", "always-send": True},
                        {"name": "my-opt", "data": "1, 2"},
                        {"code": 224, "data": "0a0b"},
                    ],
                    "subnet4": [
                        subnet(
                            **{
                                "option-data": [{"name": "routers", "data": "192.0.2.1"}],
                                "pools": [
                                    {
                                        "pool": "192.0.2.10-192.0.2.20",
                                        "option-data": [{"code": 66, "data": "tftp"}],
                                    }
                                ],
                            }
                        )
                    ],
                }
            )
        )
        g = [(o.code, o.name, o.data, o.always_send) for o in config.option_data]
        self.assertEqual(
            g,
            [
                (6, "domain-name-servers", bytes([10, 0, 0, 53]), True),
                (222, "my-opt", b"\x00\x01\x00\x02", False),
                (224, "", b"\x0a\x0b", False),
            ],
        )
        self.assertEqual(config.subnets[0].option_data[0].data, bytes([192, 0, 2, 1]))
        self.assertEqual(config.subnets[0].pools[0].option_data[0].data, b"tftp")

    def test_custom_definition_for_121(self):
        """Kea 2.2 users may define option 121 themselves; that definition wins."""
        config = parse_config(
            text(
                {
                    "option-def": [
                        {
                            "name": "rfc3442-routes",
                            "code": 121,
                            "type": "record",
                            "array": True,
                            "record-types": "uint8, uint8, uint8, ipv4-address",
                        }
                    ],
                    "option-data": [{"name": "rfc3442-routes", "data": "16, 10, 1, 10.0.0.1"}],
                }
            )
        )
        self.assertEqual(config.option_data[0].data.hex(), "100a010a000001")


class RoundTripTests(SynchronousTestCase):
    """The reference configurations load, and config_to_element round-trips them."""

    def assertRoundTrip(self, source):  # noqa: N802
        """parse -> config_to_element -> parse gives the same configuration."""
        first = parse_config(source)
        element = config_to_element(first)
        second = parse_config(json.dumps({"Dhcp4": element}))
        self.assertEqual(_without_raw(first), _without_raw(second))
        return first, element

    def test_hot_standby(self):
        """Section 8.2's hot-standby configuration [Kea -t and start accept it]."""
        config, element = self.assertRoundTrip(HOT_STANDBY)
        ha = config.ha
        self.assertEqual(
            (ha.mode, ha.this_server_name, ha.this_peer.role), ("hot-standby", "server2", "standby")
        )
        self.assertTrue(
            ha.multi_threading.enable_multi_threading and ha.multi_threading.http_dedicated_listener
        )
        self.assertEqual(
            (ha.multi_threading.http_listener_threads, ha.delayed_updates_limit), (4, 0)
        )
        c = element["hooks-libraries"][1]["parameters"]["high-availability"][0]
        self.assertEqual(
            (
                c["delayed-updates-limit"],
                c["require-client-certs"],
                c["restrict-commands"],
                c["wait-backup-ack"],
                c["send-lease-updates"],
                c["sync-leases"],
            ),
            (0, True, False, False, True, True),
        )

    def test_load_balancing(self):
        """Section 8.2's load-balancing configuration [Kea -t and start accept it]."""
        config, _ = self.assertRoundTrip(LOAD_BALANCING)
        self.assertEqual((config.ha.mode, config.ha.delayed_updates_limit), ("load-balancing", 100))
        self.assertEqual(
            [p.client_class for p in config.subnets[0].pools], ["HA_server1", "HA_server2"]
        )

    def test_passive_backup(self):
        """Section 8.2's passive-backup configuration [Kea -t and start accept it]."""
        config, element = self.assertRoundTrip(PASSIVE_BACKUP)
        self.assertEqual((config.ha.mode, config.ha.this_peer.role), ("passive-backup", "backup"))
        peers = element["hooks-libraries"][1]["parameters"]["high-availability"][0]["peers"]
        self.assertEqual([p["auto-failover"] for p in peers], [True, True])

    def test_option_a(self):
        """Section 8.3's control-agent variant [Kea -t and start accept it]."""
        config, element = self.assertRoundTrip(OPTION_A)
        self.assertFalse(config.ha.multi_threading.http_dedicated_listener)
        self.assertEqual(
            [(p.basic_auth_user, p.basic_auth_password, p.port) for p in config.ha.peers],
            [("ha", "secret", 8000)] * 2,
        )
        self.assertEqual(config.control_sockets[0].socket_name, "/run/kea/kea4-ctrl-socket")
        mt = element["hooks-libraries"][1]["parameters"]["high-availability"][0]["multi-threading"]
        self.assertEqual(
            mt,
            {
                "enable-multi-threading": False,
                "http-client-threads": 0,
                "http-dedicated-listener": False,
                "http-listener-threads": 0,
            },
        )

    def test_seed(self):
        """The seed configuration round-trips too."""
        config, element = self.assertRoundTrip(SEED_TEXT)
        self.assertEqual(element["subnet4"][0]["id"], 1)

    def test_raw_is_not_changed(self):
        """config_to_element returns a copy; the parsed raw map is left as read."""
        config = parse_config(SEED_TEXT)
        config_to_element(config)
        self.assertNotIn(
            "heartbeat-delay",
            config.raw["hooks-libraries"][1]["parameters"]["high-availability"][0],
        )


class LoadConfigTests(SynchronousTestCase):
    """load_config reads files."""

    def test_load(self):
        """A file is read and parsed; syntax errors name the file."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(SEED_TEXT)
        self.assertIsInstance(load_config(path), ServerConfig)
        with open(path, "w") as f:
            f.write('{"Dhcp4": {')
        e = self.assertRaises(ConfigError, load_config, path)
        self.assertTrue(e.path.startswith(path + ":1."))

    def test_missing_file(self):
        """A missing file raises OSError."""
        self.assertRaises(OSError, load_config, self.mktemp())


def _without_raw(config):
    """The configuration without the raw maps (which gain defaults in config_to_element)."""
    return replace(config, raw={}, hooks=tuple(replace(h, parameters={}) for h in config.hooks))
