# -*- test-case-name: tests.test_config -*-
"""
The parsed configuration: frozen dataclasses, with every Kea 2.2 default
declared once, next to its field.

L{kea_ha_tw.config.loader} turns Kea's C{Dhcp4} JSON into these objects and
is the only producer of them; everything else only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from collections.abc import Mapping
from typing import Any

# Debian's kea-dhcp4 default lease file.
DEFAULT_LEASE_FILE = "/var/lib/kea/kea-leases4.csv"


@dataclass(frozen=True, slots=True)
class OptionData:
    """
    One C{option-data} entry, already encoded to its wire payload.

    @ivar code: the option code.
    @ivar name: the option's name (from the entry or the definition).
    @ivar data: the wire payload (without code and length bytes).
    @ivar always_send: Kea's C{always-send}: sent even when not requested.
    """

    code: int
    name: str
    data: bytes
    always_send: bool = False
    space: str = "dhcp4"


@dataclass(frozen=True, slots=True)
class ReservationConfig:
    """A host reservation (C{subnet4[].reservations[]})."""

    hw_address: bytes | None = None
    client_id: bytes | None = None
    ip_address: IPv4Address | None = None
    hostname: str = ""
    option_data: tuple[OptionData, ...] = ()


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """An address pool: an inclusive range, optionally gated by a client class."""

    start: IPv4Address
    end: IPv4Address
    option_data: tuple[OptionData, ...] = ()
    client_class: str | None = None

    def __contains__(self, address: IPv4Address) -> bool:
        return self.start <= address <= self.end

    @property
    def size(self) -> int:
        """How many addresses the pool holds."""
        return int(self.end) - int(self.start) + 1


@dataclass(frozen=True, slots=True)
class SubnetConfig:
    """
    One C{subnet4} entry.  C{None} for a timer or flag means "inherit the
    global value"; use L{ServerConfig.effective} to resolve.
    """

    id: int
    subnet: IPv4Network
    pools: tuple[PoolConfig, ...] = ()
    option_data: tuple[OptionData, ...] = ()
    relay_addresses: tuple[IPv4Address, ...] = ()
    interface: str | None = None
    valid_lifetime: int | None = None
    min_valid_lifetime: int | None = None
    max_valid_lifetime: int | None = None
    renew_timer: int | None = None
    rebind_timer: int | None = None
    match_client_id: bool | None = None
    authoritative: bool | None = None
    client_class: str | None = None
    reservations: tuple[ReservationConfig, ...] = ()
    next_server: IPv4Address | None = None
    server_hostname: str | None = None
    boot_file_name: str | None = None
    calculate_tee_times: bool | None = None
    t1_percent: float | None = None
    t2_percent: float | None = None


@dataclass(frozen=True, slots=True)
class LeaseDatabaseConfig:
    """
    C{lease-database}. Only memfile is supported.

    @ivar fsync: our extension (not in Kea): C{"none"} (Kea's behaviour:
        write, no fsync), C{"always"} (fsync every append before the reply
        leaves).
    """

    type: str = "memfile"
    persist: bool = True
    name: str = DEFAULT_LEASE_FILE
    lfc_interval: int = 3600
    max_row_errors: int = 0
    fsync: str = "none"


@dataclass(frozen=True, slots=True)
class ExpiredLeasesConfig:
    """C{expired-leases-processing} with Kea 2.2's defaults."""

    reclaim_timer_wait_time: int = 10
    flush_reclaimed_timer_wait_time: int = 25
    hold_reclaimed_time: int = 3600
    max_reclaim_leases: int = 100
    max_reclaim_time: int = 250
    unwarned_reclaim_cycles: int = 5


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """One C{authentication.clients[]} entry (HTTP basic auth)."""

    user: str
    password: str


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """Kea's TLS parameters for a listener or a client."""

    trust_anchor: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_required: bool = True


@dataclass(frozen=True, slots=True)
class ControlSocketConfig:
    """
    A command channel. C{socket_type} is C{"http"}, C{"https"} or
    C{"unix"}; the address and port apply to HTTP(S), C{socket_name} to unix.
    """

    socket_type: str
    socket_address: str = "127.0.0.1"
    socket_port: int = 8000
    socket_name: str | None = None
    tls: TLSConfig | None = None
    auth_realm: str = "kea-dhcpv4-server"
    auth_clients: tuple[ClientCredentials, ...] = ()


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """C{high-availability[0].peers[]}."""

    name: str
    url: str
    scheme: str
    host: str
    port: int
    role: str
    auto_failover: bool = True
    basic_auth_user: str | None = None
    basic_auth_password: str = ""
    tls: TLSConfig | None = None


@dataclass(frozen=True, slots=True)
class StatePauseConfig:
    """C{state-machine.states[]}: C{pause} is always/never/once."""

    state: str
    pause: str = "never"


@dataclass(frozen=True, slots=True)
class HAMultiThreadingConfig:
    """HA C{multi-threading} with Kea 2.2's defaults."""

    enable_multi_threading: bool = False
    http_dedicated_listener: bool = False
    http_listener_threads: int = 0
    http_client_threads: int = 0


@dataclass(frozen=True, slots=True)
class HAConfig:
    """The single C{high-availability} relationship, with Kea 2.2's defaults."""

    this_server_name: str
    mode: str
    peers: tuple[PeerConfig, ...]
    heartbeat_delay_ms: int = 10000
    max_response_delay_ms: int = 60000
    max_ack_delay_ms: int = 10000
    max_unacked_clients: int = 10
    # 100 for load-balancing, 0 otherwise: the loader applies this.
    delayed_updates_limit: int = 0
    send_lease_updates: bool = True
    sync_leases: bool = True
    sync_timeout_ms: int = 60000
    sync_page_limit: int = 10000
    wait_backup_ack: bool = False
    # Extension (key "replicate-expired-leases", ignored by Kea 2.2): send
    # reclaimed leases to the peers; Kea 2.2 does not replicate expiry.
    replicate_expired_leases: bool = True
    # Extension (key "batch-updates"): lease4-batch-update between peers of ours.
    batch_updates: bool = True
    # Extension (key "listener-process"): the HA listener runs in a process
    # of its own that acknowledges partners' lease updates at once
    # (L{kea_ha_tw.ha.listener_relay}).
    listener_process: bool = False
    require_client_certs: bool = True
    restrict_commands: bool = False
    tls: TLSConfig | None = None
    multi_threading: HAMultiThreadingConfig = field(default_factory=HAMultiThreadingConfig)
    state_machine: tuple[StatePauseConfig, ...] = ()

    def peer(self, name: str) -> PeerConfig:
        """The peer called C{name}."""
        for p in self.peers:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def this_peer(self) -> PeerConfig:
        """This server's own peer entry."""
        return self.peer(self.this_server_name)


@dataclass(frozen=True, slots=True)
class HookLibraryConfig:
    """One C{hooks-libraries[]} entry; C{kind} is C{"ha"} or C{"lease_cmds"}."""

    library: str
    kind: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """
    The whole C{Dhcp4} configuration.

    @ivar raw: the C{Dhcp4} map as read (comments stripped), for
        C{config-get}.
    """

    subnets: tuple[SubnetConfig, ...] = ()
    interfaces: tuple[str, ...] = ()
    dhcp_socket_type: str = "raw"
    lease_database: LeaseDatabaseConfig = field(default_factory=LeaseDatabaseConfig)
    valid_lifetime: int = 7200
    min_valid_lifetime: int | None = None
    max_valid_lifetime: int | None = None
    renew_timer: int | None = None
    rebind_timer: int | None = None
    calculate_tee_times: bool = False
    t1_percent: float = 0.5
    t2_percent: float = 0.875
    match_client_id: bool = True
    authoritative: bool = False
    echo_client_id: bool = True
    decline_probation_period: int = 86400
    #: Kea's C{parked-packet-limit}: queries whose reply waits for the
    #: hooks (HA lease updates) at once; 0 = no limit. Stored as Kea
    #: applies it, as an unsigned 32-bit value.
    parked_packet_limit: int = 256
    next_server: IPv4Address = IPv4Address("0.0.0.0")
    server_hostname: str = ""
    boot_file_name: str = ""
    option_data: tuple[OptionData, ...] = ()
    expired_leases: ExpiredLeasesConfig = field(default_factory=ExpiredLeasesConfig)
    control_sockets: tuple[ControlSocketConfig, ...] = ()
    hooks: tuple[HookLibraryConfig, ...] = ()
    ha: HAConfig | None = None
    multi_threading_enabled: bool = False
    server_tag: str = ""
    #: Kea's C{loggers} entries (L{kea_ha_tw.loggers.LoggerConfig}); none
    #: means Kea's default, C{INFO} and above.
    loggers: tuple[Any, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)
    # interfaces-config: "same-as-inbound" or "use-routing"; re-detect.
    outbound_interface: str = "same-as-inbound"
    re_detect: bool = True
    # Dhcp4.multi-threading: 0 threads means "as many as CPUs" (Kea).
    thread_pool_size: int = 0
    packet_queue_size: int = 64

    def subnet_by_id(self, subnet_id: int) -> SubnetConfig | None:
        """The subnet with id C{subnet_id}, or C{None}."""
        for s in self.subnets:
            if s.id == subnet_id:
                return s
        return None

    def subnet_for_address(self, address: IPv4Address) -> SubnetConfig | None:
        """The subnet whose prefix holds C{address}, or C{None}."""
        for s in self.subnets:
            if address in s.subnet:
                return s
        return None

    def effective(self, subnet: SubnetConfig, name: str) -> Any:
        """C{subnet}'s value of C{name}, or the global one when it inherits."""
        value = getattr(subnet, name)
        return getattr(self, name) if value is None else value
