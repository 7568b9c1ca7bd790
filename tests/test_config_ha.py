"""
Tests for L{kea_ha_tw.config.ha}: the C{high-availability} hook parameters.

Every case marked "[Kea start]" was checked by starting Kea 2.2.0's
C{kea-dhcp4} with the same parameters (in a throwaway network namespace,
peers on loopback) and reading C{HA_CONFIGURATION_FAILED}'s text; Kea 2.2's
C{kea-dhcp4 -t} does not load hook libraries' configurations, so it accepts
all of these. "[Kea accepts]" marks where we are stricter than Kea.
"""

from __future__ import annotations

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from kea_ha_tw.config.loader import parse_config
from tests.configs import HA_PATH, HOOKS, ha_map, peers, text, with_ha
from tests.test_config import RejectMixin

P = HA_PATH
PEERS = P + ".peers"


def _hs(**over):
    return with_ha([ha_map(**over)])


HA_FAILURES = [
    (
        "no_params",
        "libdhcp_ha.so without parameters [Kea start: HA_MISSING_CONFIGURATION]",
        {
            "hooks-libraries": [
                {"library": HOOKS + "libdhcp_lease_cmds.so"},
                {"library": HOOKS + "libdhcp_ha.so"},
            ]
        },
        "Dhcp4.hooks-libraries[1].parameters",
        "high-availability parameter not specified for High Availability hooks library",
    ),
    (
        "not_list",
        "high-availability must be a list [Kea start]",
        with_ha(ha_map()),
        "Dhcp4.hooks-libraries[1].parameters.high-availability",
        "HA configuration must be a list",
    ),
    (
        "two_relationships",
        "Kea 2.2 takes exactly one relationship [Kea start]",
        with_ha([ha_map(), ha_map()]),
        "Dhcp4.hooks-libraries[1].parameters.high-availability",
        "invalid number of configurations in the HA configuration list. Expected exactly one "
        "configuration",
    ),
    (
        "zero_relationships",
        "An empty relationship list [Kea start]",
        with_ha([]),
        "Dhcp4.hooks-libraries[1].parameters.high-availability",
        "Expected exactly one configuration",
    ),
    (
        "relationship_not_map",
        "The relationship must be a map",
        with_ha([5]),
        P,
        "expected list of maps in the HA configuration",
    ),
    (
        "no_mode",
        "mode is required [Kea start: missing parameter 'mode']",
        with_ha([{"this-server-name": "server1", "peers": peers()}]),
        P + ".mode",
        "missing parameter 'mode'",
    ),
    (
        "bad_mode",
        "An unknown mode [Kea start]",
        _hs(mode="foo"),
        P + ".mode",
        "unsupported value 'foo' for mode parameter",
    ),
    (
        "mode_type",
        "mode must be a string [Kea start: invalid type specified for parameter 'mode']",
        _hs(mode=5),
        P + ".mode",
        "invalid type specified for parameter 'mode'",
    ),
    (
        "no_peers",
        "peers is required [Kea start]",
        with_ha([{"this-server-name": "server1", "mode": "hot-standby"}]),
        P + ".peers",
        "'peers' parameter missing in HA configuration",
    ),
    (
        "peers_map",
        "peers must be a list [Kea start]",
        _hs(peers={}),
        P + ".peers",
        "'peers' parameter must be a list",
    ),
    (
        "peer_not_map",
        "Each peer is a map [Kea start]",
        _hs(peers=[1]),
        PEERS + "[0]",
        "peer configuration must be a map",
    ),
    (
        "state_machine_list",
        "state-machine must be a map [Kea start]",
        _hs(**{"state-machine": []}),
        P + ".state-machine",
        "'state-machine' parameter must be a map",
    ),
    (
        "states_map",
        "states must be a list [Kea start]",
        _hs(**{"state-machine": {"states": {}}}),
        P + ".state-machine.states",
        "'states' parameter must be a list",
    ),
    (
        "no_this_server",
        "this-server-name is required [Kea start]",
        with_ha([{"mode": "hot-standby", "peers": peers()}]),
        P + ".this-server-name",
        "missing parameter 'this-server-name'",
    ),
    (
        "blank_this_server",
        "this-server-name must not be blank [Kea start]",
        _hs(**{"this-server-name": "  "}),
        P + ".this-server-name",
        "'this-server-name' value must not be empty",
    ),
    (
        "this_server_absent",
        "this-server-name must name a peer [Kea start]",
        _hs(**{"this-server-name": "server9"}),
        P + ".this-server-name",
        "no peer configuration specified for the 'server9'",
    ),
    (
        "sync_timeout_negative",
        "sync-timeout is not negative [Kea start]",
        _hs(**{"sync-timeout": -1}),
        P + ".sync-timeout",
        "'sync-timeout' must not be negative",
    ),
    (
        "sync_timeout_big",
        "sync-timeout is a uint32 [Kea start]",
        _hs(**{"sync-timeout": 2**32}),
        P + ".sync-timeout",
        "'sync-timeout' must not be greater than 4294967295",
    ),
    (
        "sync_timeout_type",
        "sync-timeout is an integer [Kea start]",
        _hs(**{"sync-timeout": "5"}),
        P + ".sync-timeout",
        "invalid type specified for parameter 'sync-timeout'",
    ),
    (
        "heartbeat_delay_cap",
        "heartbeat-delay is a uint16 in 2.2 [Kea start]",
        _hs(**{"heartbeat-delay": 65536}),
        P + ".heartbeat-delay",
        "'heartbeat-delay' must not be greater than 65535",
    ),
    (
        "max_response_delay_cap",
        "max-response-delay is a uint16 in 2.2 [Kea start]",
        _hs(**{"max-response-delay": 70000}),
        P + ".max-response-delay",
        "'max-response-delay' must not be greater than 65535",
    ),
    (
        "max_ack_delay_cap",
        "max-ack-delay is a uint16 in 2.2 [Kea start]",
        _hs(**{"max-ack-delay": 65536}),
        P + ".max-ack-delay",
        "'max-ack-delay' must not be greater than 65535",
    ),
    (
        "bool_type",
        "send-lease-updates is a boolean [Kea start]",
        _hs(**{"send-lease-updates": "true"}),
        P + ".send-lease-updates",
        "invalid type specified for parameter 'send-lease-updates'",
    ),
    (
        "delayed_updates_hot_standby",
        "delayed-updates-limit must be 0 in hot-standby [Kea start]",
        _hs(**{"delayed-updates-limit": 5}),
        P + ".delayed-updates-limit",
        "'delayed-updates-limit' must be set to 0 in the hot standby configuration",
    ),
    (
        "delayed_updates_passive",
        "delayed-updates-limit must be 0 in passive-backup [Kea start]",
        _hs(
            mode="passive-backup",
            peers=peers((1, {"role": "backup"})),
            **{"delayed-updates-limit": 5},
        ),
        P + ".delayed-updates-limit",
        "'delayed-updates-limit' must be set to 0 in the passive backup configuration",
    ),
    (
        "wait_backup_ack_hot_standby",
        "wait-backup-ack only in passive-backup [Kea start]",
        _hs(**{"wait-backup-ack": True}),
        P + ".wait-backup-ack",
        "'wait-backup-ack' must be set to false in the hot standby configuration",
    ),
    (
        "wait_backup_ack_lb",
        "wait-backup-ack only in passive-backup [Kea start]",
        _hs(
            mode="load-balancing",
            peers=peers((1, {"role": "secondary"})),
            **{"wait-backup-ack": True},
        ),
        P + ".wait-backup-ack",
        "'wait-backup-ack' must be set to false in the load balancing configuration",
    ),
    (
        "mt_not_map",
        "HA multi-threading must be a map [Kea start]",
        _hs(**{"multi-threading": 5}),
        P + ".multi-threading",
        "multi-threading configuration must be a map",
    ),
    (
        "mt_threads_negative",
        "HA thread counts are not negative [Kea start]",
        _hs(**{"multi-threading": {"http-listener-threads": -1}}),
        P + ".multi-threading.http-listener-threads",
        "'http-listener-threads' must not be negative",
    ),
    (
        "mt_bool_type",
        "enable-multi-threading is a boolean [Kea start]",
        _hs(**{"multi-threading": {"enable-multi-threading": 1}}),
        P + ".multi-threading.enable-multi-threading",
        "invalid type specified for parameter 'enable-multi-threading'",
    ),
    (
        "trust_anchor_type",
        "trust-anchor is a string [Kea start]",
        _hs(**{"trust-anchor": 5}),
        P + ".trust-anchor",
        "invalid type specified for parameter 'trust-anchor'",
    ),
    (
        "https_without_tls",
        "https needs TLS [Kea start]",
        _hs(peers=peers((1, {"url": "https://127.0.0.12:8001/"}))),
        PEERS + "[1].url",
        "bad url 'https://127.0.0.12:8001/': https scheme is not supported for server server2 "
        "where TLS is disabled",
    ),
    (
        "peer_duplicate",
        "Peer names are unique [Kea start]",
        _hs(peers=peers((1, {"name": "server1"}))),
        PEERS + "[1].name",
        "peer with name 'server1' already specified",
    ),
    (
        "peer_duplicate_trimmed",
        "Peer names are compared trimmed [Kea accepts]",
        _hs(peers=peers((1, {"name": " server1"}))),
        PEERS + "[1].name",
        "peer with name 'server1' already specified",
    ),
    (
        "peer_blank",
        "Peer names are not blank [Kea start]",
        _hs(peers=peers((1, {"name": " "}))),
        PEERS + "[1].name",
        "peer name must not be empty",
    ),
    (
        "peer_no_name",
        "A peer needs a name [Kea start]",
        _hs(peers=[peers()[0], {"url": "http://127.0.0.12:8001/", "role": "standby"}]),
        PEERS + "[1].name",
        "missing parameter 'name'",
    ),
    (
        "peer_no_url",
        "A peer needs a url [Kea start]",
        _hs(peers=[peers()[0], {"name": "server2", "role": "standby"}]),
        PEERS + "[1].url",
        "missing parameter 'url'",
    ),
    (
        "peer_no_role",
        "A peer needs a role [Kea start]",
        _hs(peers=[peers()[0], {"name": "server2", "url": "http://127.0.0.12:8001/"}]),
        PEERS + "[1].role",
        "missing parameter 'role'",
    ),
    (
        "peer_bad_role",
        "Roles are primary, secondary, standby, backup [Kea start]",
        _hs(peers=peers((1, {"role": "boss"}))),
        PEERS + "[1].role",
        "unsupported value 'boss' for role parameter",
    ),
    (
        "url_hostname",
        "A URL host must be an address literal [Kea start]",
        _hs(peers=peers((1, {"url": "http://localhost:8001/"}))),
        PEERS + "[1].url",
        "bad url 'http://localhost:8001/': Failed to convert string to address 'localhost': "
        "Invalid argument for server server2",
    ),
    (
        "url_scheme",
        "Only http and https [Kea start]",
        _hs(peers=peers((1, {"url": "ftp://127.0.0.12:8001/"}))),
        PEERS + "[1].url",
        "invalid URL: invalid scheme ftp in ftp://127.0.0.12:8001/ for server server2",
    ),
    (
        "url_no_scheme",
        "A URL without a scheme [Kea start]",
        _hs(peers=peers((1, {"url": "127.0.0.12:8001"}))),
        PEERS + "[1].url",
        "invalid URL: invalid scheme 127.0.0.12 in 127.0.0.12:8001 for server server2",
    ),
    (
        "url_bad_port",
        "A non-numeric port [Kea start]",
        _hs(peers=peers((1, {"url": "http://127.0.0.12:80a/"}))),
        PEERS + "[1].url",
        "invalid URL: invalid port number 80a in http://127.0.0.12:80a/ for server server2",
    ),
    (
        "url_empty_port",
        "An empty port [Kea start]",
        _hs(peers=peers((1, {"url": "http://127.0.0.12:/"}))),
        PEERS + "[1].url",
        "invalid port number  in",
    ),
    (
        "url_port_range",
        "A port above 65535 [Kea accepts and truncates]",
        _hs(peers=peers((1, {"url": "http://127.0.0.12:70000/"}))),
        PEERS + "[1].url",
        "port 70000 out of range",
    ),
    (
        "url_ipv6_bracket",
        "An unclosed IPv6 bracket [Kea start]",
        _hs(peers=peers((1, {"url": "http://[::1:8001/"}))),
        PEERS + "[1].url",
        "invalid URL: expected ] after IPv6 address in http://[::1:8001/ for server server2",
    ),
    (
        "url_no_host",
        "A URL without a host [Kea start]",
        _hs(peers=peers((1, {"url": "http://"}))),
        PEERS + "[1].url",
        "invalid URL: hostname missing in http://",
    ),
    (
        "url_type",
        "url is a string [Kea start]",
        _hs(peers=peers((1, {"url": 5}))),
        PEERS + "[1].url",
        "invalid type specified for parameter 'url'",
    ),
    (
        "two_primaries",
        "At most one primary [Kea start]",
        _hs(peers=peers((1, {"role": "primary"}))),
        PEERS,
        "multiple primary servers specified",
    ),
    (
        "two_standbys",
        "At most one standby [Kea start]",
        _hs(
            peers=peers()
            + [{"name": "server3", "url": "http://127.0.0.13:8001/", "role": "standby"}]
        ),
        PEERS,
        "multiple standby servers specified",
    ),
    (
        "hs_secondary",
        "No secondary in hot-standby [Kea start]",
        _hs(peers=peers((1, {"role": "secondary"}))),
        PEERS,
        "secondary servers not allowed in the hot standby configuration",
    ),
    (
        "hs_no_standby",
        "hot-standby needs a standby [Kea start]",
        _hs(peers=peers((1, {"role": "backup"}))),
        PEERS,
        "standby server required in the hot standby configuration",
    ),
    (
        "hs_no_primary",
        "hot-standby needs a primary [Kea start]",
        _hs(peers=peers((0, {"role": "backup"}))),
        PEERS,
        "primary server required in the hot standby configuration",
    ),
    (
        "lb_standby",
        "No standby in load-balancing [Kea start]",
        _hs(mode="load-balancing"),
        PEERS,
        "standby servers not allowed in the load balancing configuration",
    ),
    (
        "lb_no_secondary",
        "load-balancing needs a secondary [Kea start]",
        _hs(mode="load-balancing", peers=peers((1, {"role": "backup"}))),
        PEERS,
        "secondary server required in the load balancing configuration",
    ),
    (
        "lb_no_primary",
        "load-balancing needs a primary [Kea start]",
        _hs(
            mode="load-balancing", peers=peers((0, {"role": "backup"}), (1, {"role": "secondary"}))
        ),
        PEERS,
        "primary server required in the load balancing configuration",
    ),
    (
        "pb_secondary",
        "No secondary in passive-backup [Kea start]",
        _hs(mode="passive-backup", peers=peers((1, {"role": "secondary"}))),
        PEERS,
        "secondary servers not allowed in the passive backup configuration",
    ),
    (
        "pb_standby",
        "No standby in passive-backup [Kea start]",
        _hs(mode="passive-backup"),
        PEERS,
        "standby servers not allowed in the passive backup configuration",
    ),
    (
        "pb_no_primary",
        "passive-backup needs a primary [Kea start]",
        _hs(mode="passive-backup", peers=peers((0, {"role": "backup"}), (1, {"role": "backup"}))),
        PEERS,
        "primary server required in the passive backup configuration",
    ),
    (
        "user_colon",
        "A basic-auth user must not contain ':' [Kea start]",
        _hs(peers=peers((1, {"basic-auth-user": "a:b", "basic-auth-password": "x"}))),
        PEERS + "[1].basic-auth-user",
        "user 'a:b' must not contain a ':' in peer 'server2'",
    ),
    (
        "password_both",
        "basic-auth-password and -file are exclusive [Kea start]",
        _hs(
            peers=peers(
                (
                    1,
                    {
                        "basic-auth-user": "a",
                        "basic-auth-password": "x",
                        "basic-auth-password-file": "/x",
                    },
                )
            )
        ),
        PEERS + "[1]",
        "only one of basic-auth-password and basic-auth-password-file parameter can be configured "
        "in peer 'server2'",
    ),
    (
        "password_file_missing",
        "A missing password file [Kea start]",
        _hs(
            peers=peers(
                (1, {"basic-auth-user": "a", "basic-auth-password-file": "/nonexistent/pw"})
            )
        ),
        PEERS + "[1].basic-auth-password-file",
        "bad password file in peer 'server2': can't open file '/nonexistent/pw': No such file or "
        "directory",
    ),
    (
        "password_type",
        "basic-auth-password is a string [Kea start]",
        _hs(peers=peers((1, {"basic-auth-user": "a", "basic-auth-password": 5}))),
        PEERS + "[1].basic-auth-password",
        "invalid type specified for parameter 'basic-auth-password'",
    ),
    (
        "auto_failover_type",
        "auto-failover is a boolean [Kea start]",
        _hs(peers=peers((1, {"auto-failover": "yes"}))),
        PEERS + "[1].auto-failover",
        "invalid type specified for parameter 'auto-failover'",
    ),
    (
        "state_unknown",
        "Unknown state names [Kea start]",
        _hs(**{"state-machine": {"states": [{"state": "foo", "pause": "always"}]}}),
        P + ".state-machine.states[0].state",
        "unknown state foo",
    ),
    (
        "pause_bad",
        "pause is always, never or once [Kea start]",
        _hs(**{"state-machine": {"states": [{"state": "ready", "pause": "sometimes"}]}}),
        P + ".state-machine.states[0].pause",
        "unsupported value sometimes of 'pause' parameter",
    ),
    (
        "state_duplicate",
        "A state configured twice [Kea start]",
        _hs(
            **{
                "state-machine": {
                    "states": [{"state": "ready"}, {"state": "ready", "pause": "once"}]
                }
            }
        ),
        P + ".state-machine.states[1]",
        "duplicated configuration for the 'ready' state",
    ),
    (
        "state_not_map",
        "A state entry is a map [Kea start]",
        _hs(**{"state-machine": {"states": [1]}}),
        P + ".state-machine.states[0]",
        "state configuration must be a map",
    ),
    (
        "state_no_name",
        "A state entry needs state [Kea start]",
        _hs(**{"state-machine": {"states": [{"pause": "once"}]}}),
        P + ".state-machine.states[0].state",
        "missing parameter 'state'",
    ),
    (
        "ha_without_lease_cmds",
        "libdhcp_ha.so needs libdhcp_lease_cmds.so [Kea starts without it]",
        with_ha(lease_cmds=False),
        "Dhcp4.hooks-libraries",
        "libdhcp_ha.so requires libdhcp_lease_cmds.so",
    ),
]


class HARejectionTests(RejectMixin, SynchronousTestCase):
    """One failing configuration per HA validation rule."""


def _add_case(name, doc, config, path, reason):
    def test(self):
        self.assertRejects(config, path, reason)

    test.__doc__ = doc
    test.__name__ = "test_" + name
    setattr(HARejectionTests, test.__name__, test)


for _case in HA_FAILURES:
    _add_case(*_case)


class TLSTests(RejectMixin, SynchronousTestCase):
    """TLS settings: all three files or none, peer values override global ones."""

    def setUp(self):
        self.files = []
        for name in ("ca", "cert", "key"):
            path = self.mktemp()
            with open(path, "w") as f:
                f.write(name)
            self.files.append(path)

    def test_partial(self):
        """
        A trust-anchor alone is refused [Kea start: bad TLS config for server server1: cert-file
        ...].
        """
        self.assertRejects(
            _hs(**{"trust-anchor": self.files[0]}),
            PEERS + "[0]",
            "bad TLS config for server server1: cert-file parameter is missing or empty: "
            "all or none of TLS parameters must be set",
        )

    def test_unreadable(self):
        """TLS files must be readable (Kea loads them at configuration)."""
        ca, cert, _key = self.files
        self.assertRejects(
            _hs(**{"trust-anchor": ca, "cert-file": cert, "key-file": "/nonexistent/key.pem"}),
            PEERS + "[0]",
            "bad TLS config for server server1: can't read file '/nonexistent/key.pem'",
        )

    def test_global_and_override(self):
        """
        Global TLS applies to every peer; a peer's own value overrides it; https is then allowed.
        """
        ca, cert, key = self.files
        config = parse_config(
            text(
                _hs(
                    **{
                        "trust-anchor": ca,
                        "cert-file": cert,
                        "key-file": key,
                        "require-client-certs": False,
                    },
                    peers=peers((1, {"url": "https://127.0.0.12:8443/", "cert-file": key})),
                ),
            )
        )
        own, other = config.ha.peers
        self.assertEqual(
            (own.tls.trust_anchor, own.tls.cert_file, own.tls.cert_required), (ca, cert, False)
        )
        self.assertEqual((other.tls.cert_file, other.tls.cert_required), (key, True))
        self.assertEqual((other.scheme, other.port), ("https", 8443))
        self.assertEqual(config.ha.tls.trust_anchor, ca)

    def test_empty_means_unset(self):
        """An empty string is unset, as in Kea."""
        config = parse_config(text(_hs(**{"trust-anchor": "", "cert-file": "", "key-file": ""})))
        self.assertIsNone(config.ha.tls)
        self.assertIsNone(config.ha.peers[0].tls)


class HAAcceptanceTests(SynchronousTestCase):
    """Valid HA configurations and the values they give."""

    def setUp(self):
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def test_defaults(self):
        """Kea 2.2's HA defaults apply; delayed-updates-limit is 100 only in load-balancing."""
        hs = parse_config(text(_hs())).ha
        self.assertEqual(
            (
                hs.heartbeat_delay_ms,
                hs.max_response_delay_ms,
                hs.max_ack_delay_ms,
                hs.max_unacked_clients,
                hs.delayed_updates_limit,
                hs.sync_timeout_ms,
                hs.sync_page_limit,
            ),
            (10000, 60000, 10000, 10, 0, 60000, 10000),
        )
        self.assertEqual(
            (
                hs.send_lease_updates,
                hs.sync_leases,
                hs.wait_backup_ack,
                hs.require_client_certs,
                hs.restrict_commands,
            ),
            (True, True, False, True, False),
        )
        lb = parse_config(
            text(_hs(mode="load-balancing", peers=peers((1, {"role": "secondary"}))))
        ).ha
        self.assertEqual(lb.delayed_updates_limit, 100)

    def test_limits_accepted(self):
        """65535 and 0 are accepted for the 16-bit delays, and sync-page-limit 0 too [Kea start]."""
        ha = parse_config(
            text(_hs(**{"heartbeat-delay": 0, "max-response-delay": 65535, "sync-page-limit": 0}))
        ).ha
        self.assertEqual(
            (ha.heartbeat_delay_ms, ha.max_response_delay_ms, ha.sync_page_limit), (0, 65535, 0)
        )

    def test_url_forms(self):
        """
        Path ignored, default port per scheme, IPv6 in brackets, no trailing slash [Kea start
        accepts].
        """
        ha = parse_config(
            text(
                _hs(
                    peers=peers(
                        (0, {"url": "http://127.0.0.11/some/path"}),
                        (1, {"url": "http://[::1]:8001"}),
                    )
                )
            )
        ).ha
        self.assertEqual(
            [(p.scheme, p.host, p.port) for p in ha.peers],
            [("http", "127.0.0.11", 80), ("http", "::1", 8001)],
        )

    def test_names_trimmed_and_auth(self):
        """
        Names are trimmed; basic auth user/password; an empty user means no auth [Kea start
        accepts].
        """
        pw = self.mktemp()
        with open(pw, "w") as f:
            f.write("from-file\n")
        ha = parse_config(
            text(
                _hs(
                    **{"this-server-name": " server1 "},
                    peers=peers(
                        (
                            0,
                            {"name": "server1 ", "basic-auth-user": "", "basic-auth-password": "x"},
                        ),
                        (1, {"basic-auth-user": "ha", "basic-auth-password-file": pw}),
                    ),
                )
            )
        ).ha
        self.assertEqual(ha.this_server_name, "server1")
        self.assertEqual((ha.peers[0].name, ha.peers[0].basic_auth_user), ("server1", None))
        self.assertEqual(
            (ha.peers[1].basic_auth_user, ha.peers[1].basic_auth_password), ("ha", "from-file\n")
        )

    def test_state_machine(self):
        """
        State pauses are kept; the default pause is never; 'unavailable' is accepted [Kea start].
        """
        ha = parse_config(
            text(
                _hs(
                    **{
                        "state-machine": {
                            "states": [
                                {"state": "waiting", "pause": "once"},
                                {"state": "ready"},
                                {"state": "unavailable", "pause": "always"},
                            ]
                        }
                    }
                )
            )
        ).ha
        self.assertEqual(
            [(s.state, s.pause) for s in ha.state_machine],
            [("waiting", "once"), ("ready", "never"), ("unavailable", "always")],
        )

    def test_unknown_keys_ignored(self):
        """Unknown HA and peer keys are ignored, as Kea 2.2 does, and logged [Kea start accepts]."""
        config = parse_config(
            text(_hs(**{"max-rejected-lease-updates": 10}, peers=peers((0, {"zzz": 1}))))
        )
        self.assertEqual(config.ha.this_server_name, "server1")
        keys = sorted(
            e["key"] for e in self.events if e.get("msg_id") == "KHT_HA_CONFIG_UNKNOWN_KEY"
        )
        self.assertEqual(keys, ["max-rejected-lease-updates", "zzz"])

    def test_mt_needs_dhcp_mt(self):
        """HA multi-threading is switched off without Dhcp4 multi-threading, as Kea does."""
        mt = {"multi-threading": {"enable-multi-threading": True, "http-dedicated-listener": True}}
        off = parse_config(text(_hs(**mt))).ha.multi_threading
        self.assertFalse(off.enable_multi_threading)
        self.assertTrue(any(e.get("msg_id") == "HA_CONFIG_DHCP_MT_DISABLED" for e in self.events))
        on = parse_config(
            text(with_ha([ha_map(**mt)], **{"multi-threading": {"enable-multi-threading": True}}))
        )
        self.assertTrue(
            on.ha.multi_threading.enable_multi_threading
            and on.ha.multi_threading.http_dedicated_listener
        )

    def test_peer_order_and_lookup(self):
        """Peers keep configuration order; this_peer finds our own entry."""
        ha = parse_config(text(_hs(**{"this-server-name": "server2"}))).ha
        self.assertEqual([p.name for p in ha.peers], ["server1", "server2"])
        self.assertEqual(ha.this_peer.role, "standby")

    def test_passive_backup_alone(self):
        """passive-backup with only a primary is valid [Kea ARM]."""
        ha = parse_config(
            text(
                with_ha(
                    [ha_map(mode="passive-backup", peers=peers()[:1], **{"wait-backup-ack": True})]
                )
            )
        ).ha
        self.assertEqual((ha.mode, len(ha.peers), ha.wait_backup_ack), ("passive-backup", 1, True))


class _BoolExtensionKeyTests:
    """
    An HA extension key holding a boolean (Kea 2.2 ignores unknown HA
    keys): C{key} in the file, C{attr} on the model, on by default.
    """

    key = ""
    attr = ""

    def _ha(self, extra):
        from kea_ha_tw.config.loader import parse_config

        text = """{"Dhcp4": {"hooks-libraries": [
          {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"},
          {"library": "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_ha.so",
           "parameters": {"high-availability": [{"this-server-name": "server1",
             "mode": "hot-standby", EXTRA
             "peers": [{"name": "server1", "url": "http://127.0.0.1:8001/", "role": "primary"},
                       {"name": "server2", "url": "http://127.0.0.2:8001/", "role": "standby"}]
          }]}}]}}""".replace("EXTRA", extra)
        return parse_config(text).ha

    def test_default_on(self):
        """Without the key, the extension is on."""
        self.assertTrue(getattr(self._ha(""), self.attr))

    def test_off(self):
        """The key set to false turns it off, giving Kea 2.2's behaviour."""
        self.assertFalse(getattr(self._ha(f'"{self.key}": false,'), self.attr))

    def test_wrong_type(self):
        """A non-boolean value is a configuration error naming the key."""
        from kea_ha_tw.errors import ConfigError

        for bad in ("3", '"yes"'):
            with self.assertRaises(ConfigError) as e:
                self._ha(f'"{self.key}": {bad},')
            self.assertIn(self.key, e.exception.path)


class ReplicateExpiredExtensionTests(_BoolExtensionKeyTests, SynchronousTestCase):
    """replicate-expired-leases: reclaimed leases are replicated (issue 4)."""

    key = "replicate-expired-leases"
    attr = "replicate_expired_leases"


class BatchUpdatesExtensionTests(_BoolExtensionKeyTests, SynchronousTestCase):
    """batch-updates: lease4-batch-update between peers of ours (issue 5)."""

    key = "batch-updates"
    attr = "batch_updates"


class ListenerProcessExtensionTests(_BoolExtensionKeyTests, SynchronousTestCase):
    """listener-process: the HA listener in a process of its own (issue 5); off by default."""

    key = "listener-process"
    attr = "listener_process"

    def test_default_on(self):
        """Without the key the listener stays in the server's process."""
        self.assertFalse(self._ha("").listener_process)

    def test_off(self):
        """The key set to true turns it on."""
        self.assertTrue(self._ha('"listener-process": true,').listener_process)

    def test_needs_sync_leases(self):
        """Without sync-leases nothing would recover an acknowledged update a crash lost."""
        from kea_ha_tw.errors import ConfigError

        with self.assertRaises(ConfigError) as e:
            self._ha('"listener-process": true, "sync-leases": false,')
        self.assertTrue(e.exception.path.endswith("high-availability[0].listener-process"),
                        e.exception.path)
        self.assertIn("sync-leases", e.exception.message)

    def test_not_passive_backup(self):
        """Passive-backup has no lease sync: refused, naming the key."""
        from kea_ha_tw.errors import ConfigError

        config = text(with_ha([ha_map(mode="passive-backup", peers=peers()[:1],
                                      **{"listener-process": True})]))
        with self.assertRaises(ConfigError) as e:
            parse_config(config)
        self.assertIn("listener-process", e.exception.path)
