"""
Shared fixtures of the command-channel tests: a server's command side
(clock, lease store, network state, statistics, context, default
registry, resource) driven through C{StubTreq}, and Kea's answers as
captured from a running Kea 2.2.0 (C{kea-dhcp4} with C{libdhcp_lease_cmds}
and a unix control socket, plus C{kea-ctrl-agent} and the HA dedicated
listener for the HTTP layer).

The configuration mirrors the one Kea ran with: subnet 1 192.0.2.0/24
(pool .100-.199, valid-lifetime 3600 from the global) and subnet 2
198.51.100.0/24 (valid-lifetime 7200, no pool).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock

from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.envelope import kea_json_dumps, kea_json_loads
from kea_ha_tw.commands.registry import build_default_registry
from kea_ha_tw.commands.resource import ControlChannelResource
from kea_ha_tw.commands.stats import refresh_lease_statistics
from kea_ha_tw.config.model import PoolConfig, ServerConfig, SubnetConfig
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics

URL = "http://127.0.0.1:8000/"
JSON_HEADERS = {b"Content-Type": [b"application/json"]}
#: The clock's "now": Wed, 25 Nov 2026 09:54:44 GMT, when Kea was captured.
NOW = 1795600484

SUBNET1 = SubnetConfig(
    id=1, subnet=IPv4Network("192.0.2.0/24"),
    pools=(PoolConfig(IPv4Address("192.0.2.100"), IPv4Address("192.0.2.199")),),
)
SUBNET2 = SubnetConfig(id=2, subnet=IPv4Network("198.51.100.0/24"), valid_lifetime=7200)
CONFIG = ServerConfig(
    subnets=(SUBNET1, SUBNET2), valid_lifetime=3600, renew_timer=900, rebind_timer=1800,
)


class CommandHarness:
    """
    The command side of one server, with C{StubTreq} over its real resource.

    @ivar shutdowns: exit values the shutdown seam was called with.
    @ivar applied: configurations the reconfigure seam was given.
    """

    def __init__(self, testcase: Any, config: ServerConfig = CONFIG, *,
                 config_path: str | None = None, reconfigure: Any = "record",
                 authenticator: Any = None, accept_commands: Any = None,
                 store: Any = None) -> None:
        self.testcase = testcase
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = store if store is not None else InMemoryLeaseStore()
        self.network_state = NetworkState(self.clock)
        self.statistics = Statistics(self.clock)
        self.shutdowns: list[int] = []
        self.applied: list[ServerConfig] = []
        if reconfigure == "record":
            reconfigure = self.applied.append
        self.context = CommandContext(
            clock=self.clock, config=config, lease_store=self.store,
            network_state=self.network_state, statistics=self.statistics,
            config_path=config_path, reconfigure=reconfigure,
            shutdown=self.shutdowns.append, pid=4242,
        )
        self.context.add_statistics_refresher(refresh_lease_statistics)
        self.registry = build_default_registry()
        self.resource = ControlChannelResource(
            self.registry, self.context,
            authenticator=authenticator, accept_commands=accept_commands,
        )
        self.stub = StubTreq(self.resource)

    def post_raw(self, body: bytes, headers: Any = None, method: str = "POST") -> tuple[Any, bytes]:
        """Send C{body}; return (response, body bytes)."""
        d = self.stub.request(method, URL, data=body,
                              headers=JSON_HEADERS if headers is None else headers)
        self.stub.flush()
        response = self.testcase.successResultOf(d)
        content = self.testcase.successResultOf(self.stub.content(response))
        return response, content

    def post(self, element: Any) -> list[Any]:
        """Send C{element} as JSON; assert HTTP 200 and return the decoded list."""
        body = element if isinstance(element, (bytes, str)) else json.dumps(element)
        if isinstance(body, str):
            body = body.encode("utf-8")
        response, content = self.post_raw(body)
        self.testcase.assertEqual(response.code, 200, content)
        value = kea_json_loads(content)
        self.testcase.assertIsInstance(value, list)
        return value

    def command(self, name: str, arguments: Any = None, **extra: Any) -> dict[str, Any]:
        """Run C{name} over HTTP and return the single answer map."""
        element: dict[str, Any] = {"command": name}
        if arguments is not None:
            element["arguments"] = arguments
        element.update(extra)
        answers = self.post(element)
        self.testcase.assertEqual(len(answers), 1)
        return answers[0]

    def wire(self, text: str) -> str:
        """Send C{text} verbatim; return the single answer in Kea's JSON form."""
        answers = self.post(text)
        self.testcase.assertEqual(len(answers), 1)
        return kea_json_dumps(answers[0])

    def assert_kea(self, request: str, expected: str) -> None:
        """Sending C{request} gives exactly Kea's unix-socket answer C{expected}."""
        self.testcase.assertEqual(self.wire(request), expected, request)
