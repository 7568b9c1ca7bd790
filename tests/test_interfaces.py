"""
Tests for L{kea_ha_tw.interfaces}: every class of kea-ha-tw that provides a
zope interface is checked with C{verifyObject} against each interface it
claims, through one table of C{(interface, factory)} rows.

A new implementation (a class in a C{kea_ha_tw} module whose
C{implementedBy} is not empty) without a row fails
L{CoverageTests.test_every_implementation_is_verified}, so the table
cannot fall behind the code.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementedBy
from zope.interface.interface import InterfaceClass
from zope.interface.verify import verifyObject

import kea_ha_tw
from kea_ha_tw import interfaces

Factory = Callable[[SynchronousTestCase], Any]


# -- factories: each builds one real instance, no sockets, no real time -------
# Imports are inside the factories, so an import error shows up in the rows
# of the broken module only.


def _in_memory_store(case):
    from kea_ha_tw.leases.memory import InMemoryLeaseStore

    return InMemoryLeaseStore()


def _memfile_store(case):
    from kea_ha_tw.config.model import LeaseDatabaseConfig
    from kea_ha_tw.leases.memfile import MemfileLeaseStore
    from tests.fakes import FakeProcessReactor

    config = LeaseDatabaseConfig(name=case.mktemp() + ".csv")
    return MemfileLeaseStore(config, Clock(), FakeProcessReactor())


def _no_ha(case):
    from kea_ha_tw.dhcp.hooks import NoHA

    return NoHA()


def _ha_service(case):
    from kea_ha_tw.ha.service import HAService
    from kea_ha_tw.leases.memory import InMemoryLeaseStore
    from kea_ha_tw.network_state import NetworkState
    from kea_ha_tw.stats import Statistics
    from tests.ha_helpers import FakePeerClient, ha_config, server_config

    clock = Clock()
    ha = ha_config("hot-standby")
    clients = {p.name: FakePeerClient(p.name) for p in ha.peers if p.name != ha.this_server_name}
    return HAService(server_config(ha), NetworkState(clock), Statistics(clock), clock,
                     InMemoryLeaseStore(), clients)


def _network_state(case):
    from kea_ha_tw.network_state import NetworkState

    return NetworkState(Clock())


def _statistics(case):
    from kea_ha_tw.stats import Statistics

    return Statistics(Clock())


def _command_handler(case):
    from kea_ha_tw.commands.registry import CommandHandler

    return CommandHandler("example-command", lambda arguments, context: None)


def _policy(mode):
    def build(case):
        from kea_ha_tw.ha.policies import policy_for
        from tests.ha_helpers import ha_config

        return policy_for(ha_config(mode, backups=1))

    build.__name__ = f"_policy_{mode.replace('-', '_')}"
    return build


def _peer_client(case):
    from treq.testing import StubTreq
    from twisted.web.resource import Resource

    from kea_ha_tw.ha.client import PeerClient
    from tests.ha_helpers import peer

    return PeerClient(peer("server2", "secondary", index=2), StubTreq(Resource()), Clock())


def _tls_creator(case):
    from OpenSSL import SSL

    from kea_ha_tw.ha.client import KeaClientTLSCreator

    return KeaClientTLSCreator(SSL.Context(SSL.TLS_METHOD))


def _tls_policy(case):
    from kea_ha_tw.config.model import TLSConfig
    from kea_ha_tw.ha.client import KeaTLSPolicy
    from tests.ha_helpers import peer
    from tests.tls_material import write_pki

    pki = write_pki(case.mktemp())
    https = peer("server2", "secondary", index=2)
    https = type(https)(**{**_fields(https), "url": "https://127.0.0.2:8000/", "scheme": "https"})
    return KeaTLSPolicy([https], TLSConfig(pki["ca"], pki["cert"], pki["key"]))


def _fields(frozen) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(frozen, f.name) for f in fields(frozen)}


def _tls_server_context_factory(case):
    from kea_ha_tw.commands.listener import TLSServerContextFactory
    from kea_ha_tw.config.model import TLSConfig
    from tests.tls_material import write_pki

    pki = write_pki(case.mktemp())
    return TLSServerContextFactory(TLSConfig(pki["ca"], pki["server_cert"], pki["server_key"]))


def _command_side():
    from kea_ha_tw.commands.context import CommandContext
    from kea_ha_tw.commands.registry import build_default_registry
    from kea_ha_tw.config.model import ServerConfig
    from kea_ha_tw.leases.memory import InMemoryLeaseStore
    from kea_ha_tw.network_state import NetworkState
    from kea_ha_tw.stats import Statistics

    clock = Clock()
    context = CommandContext(
        clock=clock, config=ServerConfig(), lease_store=InMemoryLeaseStore(),
        network_state=NetworkState(clock), statistics=Statistics(clock),
    )
    return build_default_registry(), context, clock


def _unix_control_factory(case):
    from kea_ha_tw.commands.listener import UnixControlFactory

    return UnixControlFactory(*_command_side())


def _unix_control_protocol(case):
    return _unix_control_factory(case).buildProtocol(None)


def _control_resource(case):
    from kea_ha_tw.commands.resource import ControlChannelResource

    registry, context, _ = _command_side()
    return ControlChannelResource(registry, context)


def _control_site(case):
    from kea_ha_tw.commands.resource import ControlSite

    return ControlSite(_control_resource(case), Clock())


def _control_channel(case):
    from twisted.internet.testing import StringTransport

    channel = _control_site(case).buildProtocol(None)
    channel.makeConnection(StringTransport())
    return channel


def _dhcp_listener_service(case):
    from kea_ha_tw.dhcp.netif import DHCPListenerService
    from tests.fakes import MemoryUDPReactor

    return DHCPListenerService(MemoryUDPReactor(), [], lambda iface, raw_sender: None)


def _dhcp_protocol(case):
    from kea_ha_tw.dhcp.protocol import DHCPServerProtocol
    from tests.builders import ETH0

    return DHCPServerProtocol(server=None, iface=ETH0, clock=Clock())


def _peer_http_protocol(case):
    from kea_ha_tw.ha.peer_http import PeerHTTPProtocol

    return PeerHTTPProtocol()


def _lfc_process_protocol(case):
    from kea_ha_tw.leases.lfc import LFCProcessProtocol

    return LFCProcessProtocol("kea-lfc -4")


def _upstream_protocol(case):
    from kea_ha_tw.ha.listener_child import UpstreamProtocol

    return UpstreamProtocol()


def _listener_child_service(case):
    from kea_ha_tw.config.loader import parse_config
    from kea_ha_tw.ha.listener_child import ListenerChildService
    from tests.configs import ha_map, text, with_ha

    return ListenerChildService(parse_config(text(with_ha([ha_map()]))), Clock(), 3)


def _stderr_level_observer(case):
    from kea_ha_tw.ha.listener_child import StderrLevelObserver

    return StderrLevelObserver(lambda line: None)


def _listener_process_service(case):
    from kea_ha_tw.ha.listener_process import ListenerProcessService

    return ListenerProcessService(Clock(), "kea-dhcp4.json", None, lambda reason: None)


def _listener_child_protocol(case):
    from kea_ha_tw.ha.listener_process import _ChildProtocol

    return _ChildProtocol(_listener_process_service(case))


def _lease_store_service(case):
    from kea_ha_tw.config.model import ServerConfig
    from kea_ha_tw.leases.memory import InMemoryLeaseStore
    from kea_ha_tw.leases.service import LeaseStoreService
    from tests.fakes import FakeProcessReactor

    return LeaseStoreService(InMemoryLeaseStore(), ServerConfig(), Clock(), FakeProcessReactor())


def _ordered_multi_service(case):
    from kea_ha_tw.service import OrderedMultiService

    return OrderedMultiService()


def _reload_on_signal(case):
    import signal

    from kea_ha_tw.service import ReloadOnSignal

    return ReloadOnSignal(None, "kea-dhcp4.json", signal.SIGHUP,
                          install=lambda signum, handler: None, call_soon=lambda *a: None)


def _recount_after_load(case):
    from kea_ha_tw.service import _RecountAfterLoad

    return _RecountAfterLoad(None)


def _built_server(case):
    """The whole service tree for a minimal standalone configuration."""
    from kea_ha_tw.config.model import LeaseDatabaseConfig, ServerConfig
    from kea_ha_tw.service import build_service
    from tests.fakes import MemoryUDPReactor

    config = ServerConfig(lease_database=LeaseDatabaseConfig(persist=False))
    return build_service(config, reactor=MemoryUDPReactor())


def _stream_output(case):
    import io

    from kea_ha_tw.log_outputs import StreamOutput, compile_pattern

    return StreamOutput(io.StringIO(), compile_pattern("%m"), lambda event: "kea-dhcp4")


def _syslog_output(case):
    from kea_ha_tw.log_outputs import SyslogOutput, compile_pattern

    class NoSyslog:
        LOG_CRIT = LOG_ERR = LOG_WARNING = LOG_INFO = LOG_DEBUG = LOG_PID = LOG_USER = 0

        def openlog(self, *args):
            pass

    return SyslogOutput("kea-dhcp4", compile_pattern("%m"), lambda event: "kea-dhcp4",
                        NoSyslog())


# -- the table -------------------------------------------------------------------

from twisted.application.service import IService, IServiceCollection  # noqa: E402
from twisted.internet.interfaces import (  # noqa: E402
    ILoggingContext,
    IOpenSSLClientConnectionCreator,
    IOpenSSLContextFactory,
    IProcessProtocol,
    IProtocol,
    IProtocolFactory,
    IProtocolNegotiationFactory,
)
from twisted.logger import ILogObserver  # noqa: E402
from twisted.web.iweb import IPolicyForHTTPS  # noqa: E402
from twisted.web.resource import IResource  # noqa: E402

#: (interface, factory): C{verifyObject(interface, factory(testcase))} must hold.
TABLE: list[tuple[InterfaceClass, Factory]] = [
    (interfaces.ILeaseStore, _in_memory_store),
    (interfaces.ILeaseStore, _memfile_store),
    (interfaces.IDHCPHooks, _no_ha),
    (interfaces.IDHCPHooks, _ha_service),
    (IService, _ha_service),
    (interfaces.INetworkState, _network_state),
    (interfaces.IStatistics, _statistics),
    (interfaces.ICommandHandler, _command_handler),
    (interfaces.IHAModePolicy, _policy("load-balancing")),
    (interfaces.IHAModePolicy, _policy("hot-standby")),
    (interfaces.IHAModePolicy, _policy("passive-backup")),
    (interfaces.IPeerClient, _peer_client),
    (IOpenSSLClientConnectionCreator, _tls_creator),
    (IPolicyForHTTPS, _tls_policy),
    (IOpenSSLContextFactory, _tls_server_context_factory),
    (IProtocolFactory, _unix_control_factory),
    (ILoggingContext, _unix_control_factory),
    (IProtocol, _unix_control_protocol),
    (ILoggingContext, _unix_control_protocol),
    (IResource, _control_resource),
    (IProtocolFactory, _control_site),
    (ILoggingContext, _control_site),
    (IProtocolNegotiationFactory, _control_site),
    (IProtocol, _control_channel),
    (ILoggingContext, _control_channel),
    (IService, _dhcp_listener_service),
    (ILoggingContext, _dhcp_protocol),
    (IProtocol, _peer_http_protocol),
    (ILoggingContext, _peer_http_protocol),
    (IProcessProtocol, _lfc_process_protocol),
    (IProtocol, _upstream_protocol),
    (ILoggingContext, _upstream_protocol),
    (IService, _listener_process_service),
    (IService, _listener_child_service),
    (IServiceCollection, _listener_child_service),
    (ILogObserver, _stderr_level_observer),
    (IProcessProtocol, _listener_child_protocol),
    (IService, _lease_store_service),
    (IService, _ordered_multi_service),
    (IServiceCollection, _ordered_multi_service),
    (IService, _reload_on_signal),
    (IService, _recount_after_load),
    (ILogObserver, _stream_output),
    (ILogObserver, _syslog_output),
]

# Interfaces a class inherits from Twisted that are Twisted's own business
# (jelly persistence of Request objects, a deprecated private channel
# interface); they need no row.
NOT_OURS = frozenset([
    "twisted.spread.interfaces.IJellyable",
    "twisted.web.http._IDeprecatedHTTPChannelToRequestInterface",
])


def kea_ha_tw_modules() -> list[Any]:
    """Every module of the kea_ha_tw package, imported."""
    names = [info.name for info in pkgutil.walk_packages(kea_ha_tw.__path__, "kea_ha_tw.")]
    return [kea_ha_tw] + [importlib.import_module(name) for name in sorted(names)]


def implementations() -> dict[type, list[InterfaceClass]]:
    """Classes defined in kea_ha_tw that provide interfaces, with those interfaces."""
    found: dict[type, list[InterfaceClass]] = {}
    for module in kea_ha_tw_modules():
        for value in vars(module).values():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                provided = list(implementedBy(value).interfaces())
                if provided:
                    found[value] = provided
    return found


def required_interfaces(cls: type) -> list[InterfaceClass]:
    """The interfaces of C{cls} that need a verified row."""
    return [i for i in implementedBy(cls).interfaces() if i.__identifier__ not in NOT_OURS]


class VerifyObjectTests(SynchronousTestCase):
    """Each row of L{TABLE} holds: the object really provides the interface."""

    def test_table_rows(self):
        """verifyObject(interface, factory(self)) is true for every row."""
        for interface, factory in TABLE:
            obj = factory(self)
            self.assertTrue(verifyObject(interface, obj),
                            f"{interface.__name__} {factory.__name__}")

    def test_registered_command_handlers(self):
        """Every handler of the default registry provides ICommandHandler, under its name."""
        from kea_ha_tw.commands.registry import build_default_registry

        registry = build_default_registry()
        names = registry.names()
        self.assertIn("lease4-get", names)
        for name in names:
            handler = registry.get(name)
            self.assertTrue(verifyObject(interfaces.ICommandHandler, handler))
            self.assertEqual(handler.name, name)

    def test_built_server(self):
        """The composed server's parts provide what the table promises for their classes."""
        from kea_ha_tw.interfaces import IDHCPHooks, ILeaseStore, INetworkState, IStatistics

        top = _built_server(self)
        server = top.server
        self.assertTrue(verifyObject(IServiceCollection, top))
        self.assertTrue(verifyObject(ILeaseStore, server.store))
        self.assertTrue(verifyObject(IDHCPHooks, server.hooks))
        self.assertTrue(verifyObject(INetworkState, server.network_state))
        self.assertTrue(verifyObject(IStatistics, server.statistics))
        for child in top:
            self.assertTrue(verifyObject(IService, child))


class CoverageTests(SynchronousTestCase):
    """The table keeps up with the code."""

    def verified(self) -> set[tuple[type, InterfaceClass]]:
        """(class, interface) pairs the table verifies."""
        return {(type(factory(self)), interface) for interface, factory in TABLE}

    def test_every_implementation_is_verified(self):
        """
        Every kea_ha_tw class with a non-empty C{implementedBy} has a table
        row for each interface it provides (except Twisted-internal ones).
        """
        verified = self.verified()
        missing = sorted(
            f"{cls.__module__}.{cls.__qualname__}: {interface.__identifier__}"
            for cls in implementations()
            for interface in required_interfaces(cls)
            if (cls, interface) not in verified
        )
        self.assertEqual(missing, [], "classes providing interfaces without a verifyObject row")

    def test_collection_finds_known_implementations(self):
        """The collector sees the implementations we know of (it is not vacuous)."""
        from kea_ha_tw.leases.memfile import MemfileLeaseStore
        from kea_ha_tw.leases.memory import InMemoryLeaseStore
        from kea_ha_tw.network_state import NetworkState

        found = implementations()
        for cls in (InMemoryLeaseStore, MemfileLeaseStore, NetworkState):
            self.assertIn(cls, found)
        self.assertIn(interfaces.ILeaseStore, found[MemfileLeaseStore])

    def test_table_rows_are_ours(self):
        """Every row builds an instance of a kea_ha_tw class."""
        for _interface, factory in TABLE:
            cls = type(factory(self))
            self.assertTrue(cls.__module__.startswith("kea_ha_tw."),
                            f"{factory.__name__} builds {cls!r}")

    def test_every_interface_has_an_implementation(self):
        """Each interface of kea_ha_tw.interfaces is verified on at least one object."""
        verified = {interface for _, interface in self.verified()}
        for interface in own_interfaces():
            self.assertIn(interface, verified, interface.__name__)


def own_interfaces() -> list[InterfaceClass]:
    """The interfaces declared in kea_ha_tw.interfaces."""
    return [value for value in vars(interfaces).values()
            if isinstance(value, InterfaceClass) and value.__module__ == interfaces.__name__]


class InterfaceModuleTests(SynchronousTestCase):
    """Style rule 3.5: all interfaces in one module, each method documented."""

    def test_interfaces_live_in_one_module(self):
        """No kea_ha_tw module other than kea_ha_tw.interfaces declares an Interface."""
        elsewhere = sorted(
            f"{module.__name__}.{name}"
            for module in kea_ha_tw_modules()
            for name, value in vars(module).items()
            if isinstance(value, InterfaceClass)
            and value.__module__ == module.__name__
            and module.__name__ != interfaces.__name__
        )
        self.assertEqual(elsewhere, [])

    def test_methods_documented_without_self(self):
        """Interface methods carry a docstring and no C{self} argument; so do attributes."""
        own = own_interfaces()
        self.assertEqual(
            sorted(i.__name__ for i in own),
            ["ICommandHandler", "IDHCPHooks", "IHAModePolicy", "ILeaseStore",
             "INetworkState", "IPeerClient", "IStatistics"],
        )
        for interface in own:
            self.assertTrue(interface.__doc__ and interface.__doc__.strip(), interface.__name__)
            for name, description in interface.namesAndDescriptions():
                where = f"{interface.__name__}.{name}"
                self.assertTrue(description.getDoc().strip(), where)
                signature = getattr(description, "getSignatureInfo", None)
                if signature is not None:
                    self.assertNotIn("self", signature()["positional"], where)

    def test_lease_store_documents_include_reclaimed(self):
        """ILeaseStore's address/key lookups document the include_reclaimed keyword."""
        for name in ("get", "get_by_hwaddr", "get_by_client_id", "get_by_hostname"):
            info = interfaces.ILeaseStore[name].getSignatureInfo()
            self.assertIn("include_reclaimed", info["optional"], name)
            self.assertIs(info["optional"]["include_reclaimed"], False)


# -- test doubles: a fake that claims an interface must keep the promise ---------------


def _dict_lease_store(case):
    from tests.builders import DictLeaseStore

    return DictLeaseStore()


def _fake_peer_client(case):
    from tests.ha_helpers import FakePeerClient

    return FakePeerClient("server2")


def _memory_udp_reactor(case):
    from tests.fakes import MemoryUDPReactor

    return MemoryUDPReactor()


def _fake_process_reactor(case):
    from tests.fakes import FakeProcessReactor

    return FakeProcessReactor()


from twisted.internet.interfaces import IReactorProcess, IReactorUDP  # noqa: E402

#: Shared test doubles (tests/ helper modules) and the interface each claims.
FAKES: list[tuple[InterfaceClass, Factory]] = [
    (interfaces.ILeaseStore, _dict_lease_store),
    (interfaces.IPeerClient, _fake_peer_client),
    (IReactorUDP, _memory_udp_reactor),
    (IReactorProcess, _fake_process_reactor),
]

#: The shared helper modules of tests/ whose doubles FAKES must cover.
HELPER_MODULES = ("tests.builders", "tests.fakes", "tests.ha_helpers", "tests.ha_cluster",
                  "tests.kea_peer_stub", "tests.commands_support")


class FakesTests(SynchronousTestCase):
    """Test doubles in the shared helper modules provide what they claim."""

    def test_fakes_verify(self):
        """verifyObject holds for every row of L{FAKES}."""
        for interface, factory in FAKES:
            self.assertTrue(verifyObject(interface, factory(self)),
                            f"{interface.__name__} {factory.__name__}")

    def test_every_declared_fake_is_verified(self):
        """Each @implementer class of the helper modules has a FAKES row per declared interface."""
        verified = {(type(factory(self)), interface) for interface, factory in FAKES}
        missing = []
        for name in HELPER_MODULES:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if inspect.isclass(value) and value.__module__ == name:
                    for interface in implementedBy(value).declared:
                        if (value, interface) not in verified:
                            missing.append(f"{name}.{value.__name__}: {interface.__name__}")
        self.assertEqual(missing, [])
