"""
The command channel against real clients and real Kea, on loopback only,
with the real reactor (each test bounded by trial's timeout; listeners and
processes are stopped in cleanup):

 - curl over HTTPS with client certificates (Kea's C{cert-required}): a
   trusted client certificate works, none or an untrusted one is refused
   during the handshake;
 - curl and C{kea-shell} over HTTP with basic authentication;
 - Kea 2.2 itself as the oracle: C{kea-dhcp4} with C{libdhcp_lease_cmds}
   and a unix control socket gets the same commands as our unix listener,
   and the answers are compared field by field.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.internet.protocol import ProcessProtocol, Protocol
from twisted.trial.unittest import SkipTest, TestCase

from kea_ha_tw.commands.context import CommandContext
from kea_ha_tw.commands.envelope import kea_json_loads
from kea_ha_tw.commands.listener import build_control_resource, listen_control_channel, server_endpoint
from kea_ha_tw.commands.registry import build_default_registry
from kea_ha_tw.commands.resource import ControlSite
from kea_ha_tw.config.loader import parse_config
from kea_ha_tw.config.model import ClientCredentials, ControlSocketConfig, TLSConfig
from kea_ha_tw.leases.memory import InMemoryLeaseStore
from kea_ha_tw.network_state import NetworkState
from kea_ha_tw.stats import Statistics

KEA_DHCP4 = "/usr/sbin/kea-dhcp4"
LEASE_CMDS = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_lease_cmds.so"


def write_pki(directory: Path) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1, a client certificate, and a stranger's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(cn, key, issuer_cn, issuer_key, ca=False, san=None):
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(issuer_cn))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=36500))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(filename, data):
        path = directory / filename
        path.write_bytes(data)
        return str(path)

    def pem_key(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix in ("", "stranger-"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = cert(prefix + "test CA", ca_key, prefix + "test CA", ca_key, ca=True)
        out[prefix + "ca"] = write(prefix + "ca.pem", ca.public_bytes(serialization.Encoding.PEM))
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = cert(prefix + "client", client_key, prefix + "test CA", ca_key)
        out[prefix + "client"] = write(prefix + "client.pem", client.public_bytes(serialization.Encoding.PEM))
        out[prefix + "client-key"] = write(prefix + "client-key.pem", pem_key(client_key))
        if not prefix:
            server_key = ec.generate_private_key(ec.SECP256R1())
            server = cert("127.0.0.1", server_key, "test CA", ca_key,
                          san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            out["server"] = write("server.pem", server.public_bytes(serialization.Encoding.PEM))
            out["server-key"] = write("server-key.pem", pem_key(server_key))
    return out


class _Collect(ProcessProtocol):
    def __init__(self, stdin: bytes, done: Deferred) -> None:
        self.stdin, self.done, self.out, self.err = stdin, done, [], []

    def connectionMade(self):  # noqa: N802 - Twisted API
        self.transport.write(self.stdin)
        self.transport.closeStdin()

    def outReceived(self, data):  # noqa: N802 - Twisted API
        self.out.append(data)

    def errReceived(self, data):  # noqa: N802 - Twisted API
        self.err.append(data)

    def processEnded(self, reason):  # noqa: N802 - Twisted API
        self.done.callback((reason.value.exitCode, b"".join(self.out), b"".join(self.err)))


def run(argv: list[str], stdin: bytes = b"") -> Deferred:
    """Run C{argv} without blocking the reactor; fire with (exit code, stdout, stderr)."""
    done: Deferred = Deferred()
    reactor.spawnProcess(_Collect(stdin, done), argv[0], argv, env=dict(os.environ))
    return done


class _UnixAnswer(Protocol):
    def __init__(self, request: bytes) -> None:
        self.request, self.data, self.done = request, [], Deferred()

    def connectionMade(self):  # noqa: N802 - Twisted API
        self.transport.write(self.request)

    def dataReceived(self, data):  # noqa: N802 - Twisted API
        self.data.append(data)

    def connectionLost(self, reason):  # noqa: N802 - Twisted API
        self.done.callback(b"".join(self.data))


@inlineCallbacks
def unix_command(path: str, request: str):
    """Send one command to a unix control socket; return the decoded answer."""
    protocol = _UnixAnswer(request.encode("utf-8"))
    yield connectProtocol(UNIXClientEndpoint(reactor, path, timeout=5), protocol)
    data = yield protocol.done.addTimeout(10, reactor)
    return kea_json_loads(data)


def real_context(config) -> CommandContext:
    """A command context on the real reactor clock."""
    return CommandContext(
        clock=reactor, config=config, lease_store=InMemoryLeaseStore(),
        network_state=NetworkState(reactor), statistics=Statistics(reactor), pid=os.getpid(),
    )


CONFIG = {"Dhcp4": {
    "interfaces-config": {"interfaces": []},
    "lease-database": {"type": "memfile", "persist": False},
    "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
    "subnet4": [
        {"id": 1, "subnet": "192.0.2.0/24", "pools": [{"pool": "192.0.2.100 - 192.0.2.199"}]},
        {"id": 2, "subnet": "198.51.100.0/24", "valid-lifetime": 7200},
    ],
}}


class HTTPClientsTests(TestCase):
    """curl and kea-shell against our HTTP(S) listeners on 127.0.0.1."""

    timeout = 60

    def setUp(self):
        if shutil.which("curl") is None:
            raise SkipTest("curl is not installed")
        self.workdir = Path(self.mktemp()).resolve()
        self.workdir.mkdir(parents=True)
        self.registry = build_default_registry()
        self.context = real_context(parse_config(json.dumps(CONFIG), "test"))

    @inlineCallbacks
    def listen(self, socket_config):
        resource = build_control_resource(self.registry, self.context, socket_config)
        port = yield server_endpoint(reactor, socket_config).listen(ControlSite(resource, reactor))
        self.addCleanup(port.stopListening)
        return port.getHost().port

    @inlineCallbacks
    def test_https_with_client_certificates(self):
        """
        cert-required: a trusted client certificate gets answers, none or a
        stranger's fails the handshake; without cert-required anyone may talk.
        """
        pki = write_pki(self.workdir / "pki")
        tls = TLSConfig(pki["ca"], pki["server"], pki["server-key"], cert_required=True)
        port = yield self.listen(ControlSocketConfig("https", "127.0.0.1", 0, tls=tls))
        url = f"https://127.0.0.1:{port}/"
        base = ["curl", "-sS", "--max-time", "10", "--cacert", pki["ca"], "-H",
                "Content-Type: application/json", "-d", '{"command":"status-get","service":["dhcp4"]}']
        code, out, err = yield run(base + ["--cert", pki["client"], "--key", pki["client-key"], url])
        self.assertEqual(code, 0, err)
        [status] = json.loads(out)
        self.assertEqual((status["result"], status["arguments"]["pid"]), (0, os.getpid()))
        # Kea 2.2's agent with the same files: curl exit 56 for both (checked by hand:
        # "tlsv13 alert certificate required", "tlsv1 alert unknown ca").
        code, out, err = yield run(base + [url])
        self.assertEqual((code, out), (56, b""), err)
        self.assertIn(b"certificate required", err)
        stranger = ["--cert", pki["stranger-client"], "--key", pki["stranger-client-key"]]
        code, out, err = yield run(base + stranger + [url])
        self.assertEqual((code, out), (56, b""), err)
        self.assertIn(b"unknown ca", err)
        # cert-required false: no certificate is asked for or checked (Kea: the same).
        relaxed = TLSConfig(pki["ca"], pki["server"], pki["server-key"], cert_required=False)
        port = yield self.listen(ControlSocketConfig("https", "127.0.0.1", 0, tls=relaxed))
        for extra in ([], stranger):
            code, out, err = yield run(base + extra + [f"https://127.0.0.1:{port}/"])
            self.assertEqual(code, 0, err)
            self.assertEqual(json.loads(out)[0]["result"], 0)

    @inlineCallbacks
    def test_kea_shell_over_https(self):
        """kea-shell (Kea's own client) with --ca/--cert/--key gets our answer."""
        if shutil.which("kea-shell") is None:
            raise SkipTest("kea-shell is not installed")
        pki = write_pki(self.workdir / "pki")
        tls = TLSConfig(pki["ca"], pki["server"], pki["server-key"], cert_required=True)
        port = yield self.listen(ControlSocketConfig("https", "127.0.0.1", 0, tls=tls))
        code, out, err = yield run(["kea-shell", "--host", "127.0.0.1", "--port", str(port),
                                    "--ca", pki["ca"], "--cert", pki["client"], "--key", pki["client-key"],
                                    "--service", "dhcp4", "lease4-get-page"],
                                   stdin=b'"from": "start", "limit": 10')
        self.assertEqual(code, 0, err)
        [result] = json.loads(out)
        self.assertEqual(result, {"arguments": {"count": 0, "leases": []}, "result": 3,
                                  "text": "0 IPv4 lease(s) found."})

    @inlineCallbacks
    def test_basic_auth_with_curl_and_kea_shell(self):
        """Without credentials 401 (and nothing runs); with them curl and kea-shell get answers."""
        config = ControlSocketConfig("http", "127.0.0.1", 0, auth_realm="kea-control-agent",
                                     auth_clients=(ClientCredentials("ha", "secret"),))
        port = yield self.listen(config)
        url = f"http://127.0.0.1:{port}/"
        add = ('{"command":"lease4-add","arguments":{"ip-address":"192.0.2.10",'
               '"hw-address":"1a:1b:1c:1d:1e:1f"}}')
        curl = ["curl", "-sS", "--max-time", "10", "-H", "Content-Type: application/json", "-d", add]
        code, out, err = yield run(curl + ["-i", url])
        self.assertEqual(code, 0, err)
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 401 Unauthorized"), head)
        self.assertIn(b'www-authenticate: basic realm="kea-control-agent"', head.lower())
        self.assertEqual(body, b'{ "result": 401, "text": "Unauthorized" }')
        self.assertEqual(self.context.lease_store.get_all(), [])
        code, out, err = yield run(curl + ["-u", "ha:secret", url])
        self.assertEqual(json.loads(out), [{"result": 0, "text":
                                            "Lease for address 192.0.2.10, subnet-id 1 added."}])
        if shutil.which("kea-shell") is None:
            return
        code, out, err = yield run(["kea-shell", "--host", "127.0.0.1", "--port", str(port),
                                    "--auth-user", "ha", "--auth-password", "secret",
                                    "--service", "dhcp4", "lease4-get-all"])
        self.assertEqual(code, 0, err)
        [result] = json.loads(out)
        self.assertEqual([lease["ip-address"] for lease in result["arguments"]["leases"]], ["192.0.2.10"])

    @inlineCallbacks
    def test_listen_control_channel_service(self):
        """The service from listen_control_channel serves and stops cleanly."""
        port_number = 20000 + os.getpid() % 20000
        config = ControlSocketConfig("http", "127.0.0.1", port_number)
        resource = build_control_resource(self.registry, self.context, config)
        service = listen_control_channel(reactor, config, resource)
        service.startService()
        self.addCleanup(service.stopService)
        code, out, err = yield run(["curl", "-sS", "--max-time", "10", "-H", "Content-Type: application/json",
                                    "-d", '{"command":"foo-bar"}', f"http://127.0.0.1:{port_number}/"])
        self.assertEqual(json.loads(out), [{"result": 2, "text": "'foo-bar' command not supported."}])


#: Commands sent to Kea and to us; answers must agree field by field.
ORACLE_COMMANDS = [
    '{"command":"lease4-add","arguments":{"ip-address":"192.0.2.10","hw-address":"1a:1b:1c:1d:1e:1f"}}',
    '{"command":"lease4-add","arguments":{"ip-address":"192.0.2.10","hw-address":"1a:1b:1c:1d:1e:1f"}}',
    '{"command":"lease4-add","arguments":{"ip-address":"192.0.2.11","hw-address":"1a:1b:1c:1d:1e:20",'
    '"client-id":"01:02:03","hostname":"MyHost.Example.ORG","fqdn-fwd":true,"valid-lft":100,'
    '"expire":2000000000,"user-context":{"a":1},"comment":"hello"}}',
    '{"command":"lease4-add","arguments":{"ip-address":"198.51.100.5","hw-address":"1a:1b:1c:1d:1e:21"}}',
    '{"command":"lease4-add","arguments":{"ip-address":"10.0.0.1","hw-address":"1a:1b:1c:1d:1e:21"}}',
    '{"command":"lease4-add","arguments":{"ip-address":5,"hw-address":"1a:1b"}}',
    '{"command":"lease4-add","arguments":{"ip-address":"192.0.2.12","hw-address":"1a:1b","state":3}}',
    '{"command":"lease4-update","arguments":{"ip-address":"192.0.2.50","hw-address":"1a:1b"}}',
    '{"command":"lease4-update","arguments":{"ip-address":"192.0.2.50","hw-address":"1a:1b",'
    '"force-create":true,"expire":1795600000,"valid-lft":100}}',
    '{"command":"lease4-get","arguments":{"ip-address":"192.0.2.11"}}',
    '{"command":"lease4-get","arguments":{"identifier-type":"client-id","identifier":"010203","subnet-id":1}}',
    '{"command":"lease4-get","arguments":{"identifier-type":"duid","identifier":"01:02","subnet-id":1}}',
    '{"command":"lease4-get-all"}',
    '{"command":"lease4-get-all","arguments":{"subnets":[2,1]}}',
    '{"command":"lease4-get-page","arguments":{"from":"start","limit":2}}',
    '{"command":"lease4-get-page","arguments":{"from":"192.0.2.11","limit":4294967296}}',
    '{"command":"lease4-get-by-hw-address","arguments":{"hw-address":"1a:1b:1c:1d:1e:1f"}}',
    '{"command":"lease4-get-by-hostname","arguments":{"hostname":"MYHOST.example.org"}}',
    '{"command":"lease4-del","arguments":{"ip-address":"192.0.2.10"}}',
    '{"command":"lease4-del","arguments":{"ip-address":"192.0.2.10"}}',
    '{"command":"lease4-resend-ddns","arguments":{"ip-address":"192.0.2.11"}}',
    '{"command":"dhcp-disable","arguments":{"max-period":60,"origin":"ha-partner"}}',
    '{"command":"dhcp-enable","arguments":{"origin":"bogus"}}',
    '{"command":"dhcp-enable","arguments":{"origin":"ha-partner"}}',
    '{"command":"statistic-get","arguments":{}}',
    '{"command":"statistic-reset","arguments":{"name":"nonexistent"}}',
    '{"command":"config-test","arguments":{"Dhcp4":{},"Logging":{}}}',
    '{"command":"shutdown","arguments":{"exit-value":"x"}}',
    '{"command":"foo-bar"}',
    '{"command":"list-commands","extra":1}',
    '[{"command":"list-commands"}]',
    '{"command":"lease4-wipe"}',
]


class KeaOracleTests(TestCase):
    """The same commands to kea-dhcp4 2.2 and to our unix socket: the same answers."""

    timeout = 60

    def setUp(self):
        if os.geteuid() != 0 or not os.path.exists(KEA_DHCP4) or not os.path.exists(LEASE_CMDS):
            raise SkipTest("needs root and kea-dhcp4 with libdhcp_lease_cmds")
        self.workdir = Path(self.mktemp()).resolve()
        self.workdir.mkdir(parents=True)
        # unix socket paths must be short (108 bytes): keep them in /tmp.
        self.sockdir = Path(tempfile.mkdtemp(prefix="khk-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.sockdir, True)

    def start_kea(self) -> str:
        sock = str(self.sockdir / "kea4.sock")
        config = json.loads(json.dumps(CONFIG))
        config["Dhcp4"]["control-socket"] = {"socket-type": "unix", "socket-name": sock}
        config["Dhcp4"]["hooks-libraries"] = [{"library": LEASE_CMDS}]
        config["Dhcp4"]["loggers"] = [{"name": "kea-dhcp4", "severity": "WARN",
                                       "output_options": [{"output": str(self.workdir / "kea.log")}]}]
        path = self.workdir / "kea4.json"
        path.write_text(json.dumps(config))
        env = dict(os.environ, KEA_PIDFILE_DIR=str(self.workdir), KEA_LOCKFILE_DIR=str(self.workdir))
        proc = subprocess.Popen([KEA_DHCP4, "-c", str(path)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

        def stop():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)

        self.addCleanup(stop)
        return sock

    @inlineCallbacks
    def wait_for(self, sock: str):
        for _ in range(100):
            if os.path.exists(sock):
                try:
                    yield unix_command(sock, '{"command":"version-get"}')
                    return
                except Exception:
                    pass
            d = Deferred()
            reactor.callLater(0.05, d.callback, None)
            yield d
        self.fail("kea-dhcp4 did not open its control socket")

    @staticmethod
    def comparable(answer):
        """Drop what may differ by a second between the two servers: cltt of leases made 'now'."""
        text = json.dumps(answer, sort_keys=True)
        value = json.loads(text)

        def strip(v):
            if isinstance(v, dict):
                return {k: strip(x) for k, x in v.items() if k != "cltt" or x == 1999999900
                        or x == 1795599900}
            if isinstance(v, list):
                return [strip(x) for x in v]
            return v

        return strip(value)

    @inlineCallbacks
    def test_same_answers_as_kea(self):
        """Every answer matches Kea's (cltt 'now' aside), over both unix sockets."""
        kea_sock = self.start_kea()
        ours_sock = str(self.sockdir / "ours.sock")
        config = parse_config(json.dumps(CONFIG), "test")
        context = real_context(config)
        socket_config = ControlSocketConfig("unix", socket_name=ours_sock)
        service = listen_control_channel(
            reactor, socket_config, build_control_resource(build_default_registry(), context, socket_config))
        service.startService()
        self.addCleanup(service.stopService)
        yield self.wait_for(kea_sock)
        differences = []
        for request in ORACLE_COMMANDS:
            kea = yield unix_command(kea_sock, request)
            ours = yield unix_command(ours_sock, request)
            if self.comparable(kea) != self.comparable(ours):
                differences.append(f"{request}\n  kea:  {kea}\n  ours: {ours}")
        self.assertEqual(differences, [], "\n".join(differences))


class TwistdControlChannelTests(TestCase):
    """
    A running C{twistd -n kea-ha} with Kea's three kinds of command sockets
    (unix, HTTP with basic auth, HTTPS requiring client certificates),
    driven by curl and kea-shell; a lease added by command lands in the
    lease file.
    """

    timeout = 120

    def setUp(self):
        if shutil.which("curl") is None or shutil.which("kea-shell") is None:
            raise SkipTest("needs curl and kea-shell")
        self.workdir = Path(self.mktemp()).resolve()
        self.workdir.mkdir(parents=True)
        self.sockdir = Path(tempfile.mkdtemp(prefix="khk-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.sockdir, True)

    @staticmethod
    def free_port() -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @inlineCallbacks
    def test_curl_and_kea_shell_against_twistd(self):
        """Every socket answers like Kea; auth and client certificates are enforced."""
        import socket

        from tests.integration.procs import checkout_env, spawn, twistd_argv, wait_until

        pki = write_pki(self.workdir / "pki")
        http_port, https_port = self.free_port(), self.free_port()
        unix_path = str(self.sockdir / "ctl.sock")
        lease_file = self.workdir / "leases4.csv"
        config = json.loads(json.dumps(CONFIG))
        config["Dhcp4"]["lease-database"] = {"type": "memfile", "persist": True, "name": str(lease_file)}
        config["Dhcp4"]["control-socket"] = {"socket-type": "unix", "socket-name": unix_path}
        config["Dhcp4"]["control-sockets"] = [
            {"socket-type": "http", "socket-address": "127.0.0.1", "socket-port": http_port,
             "authentication": {"type": "basic", "realm": "kea-ha-test",
                                "clients": [{"user": "ha", "password": "secret"}]}},
            {"socket-type": "https", "socket-address": "127.0.0.1", "socket-port": https_port,
             "trust-anchor": pki["ca"], "cert-file": pki["server"], "key-file": pki["server-key"],
             "cert-required": True},
        ]
        path = self.workdir / "kea-ha.json"
        path.write_text(json.dumps(config))
        proc = spawn(self, "twistd", twistd_argv("-n", "--pidfile=", "--logfile=-", "kea-ha",
                                                 "--config", str(path)),
                     self.workdir, env=checkout_env(), cwd=self.workdir)

        def listening():
            if not proc.alive():
                raise AssertionError("twistd exited:\n" + proc.output())
            for port in (http_port, https_port):
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) != 0:
                        return False
            return os.path.exists(unix_path)

        wait_until(listening, 60, "twistd kea-ha to open its command sockets", interval=0.2)
        http_url = f"http://127.0.0.1:{http_port}/"
        curl = ["curl", "-sS", "--max-time", "10", "-H", "Content-Type: application/json"]
        code, out, err = yield run(curl + ["-d", '{"command":"status-get"}', http_url])
        self.assertEqual(json.loads(out), {"result": 401, "text": "Unauthorized"})
        add = ('{"command":"lease4-add","service":["dhcp4"],"arguments":{"ip-address":"192.0.2.10",'
               '"hw-address":"1a:1b:1c:1d:1e:1f","hostname":"Host.Example"}}')
        code, out, err = yield run(curl + ["-u", "ha:secret", "-d", add, http_url])
        self.assertEqual(json.loads(out), [{"result": 0, "text":
                                            "Lease for address 192.0.2.10, subnet-id 1 added."}])
        code, out, err = yield run(["kea-shell", "--host", "127.0.0.1", "--port", str(http_port),
                                    "--auth-user", "ha", "--auth-password", "secret",
                                    "--service", "dhcp4", "lease4-get"], stdin=b'"ip-address": "192.0.2.10"')
        self.assertEqual(code, 0, err)
        [found] = json.loads(out)
        self.assertEqual((found["text"], found["arguments"]["hostname"]), ("IPv4 lease found.", "host.example"))
        https_url = f"https://127.0.0.1:{https_port}/"
        page = '{"command":"lease4-get-page","arguments":{"from":"start","limit":10}}'
        code, out, err = yield run(curl + ["--cacert", pki["ca"], "--cert", pki["client"],
                                           "--key", pki["client-key"], "-d", page, https_url])
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)[0]["arguments"]["count"], 1)
        code, out, err = yield run(curl + ["--cacert", pki["ca"], "-d", page, https_url])
        self.assertEqual((code, out), (56, b""), err)
        code, out, err = yield run(["kea-shell", "--host", "127.0.0.1", "--port", str(https_port),
                                    "--ca", pki["ca"], "--cert", pki["client"], "--key", pki["client-key"],
                                    "--service", "dhcp4", "version-get"])
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)[0]["text"], "2.2.0")
        answer = yield unix_command(unix_path, '{"command":"lease4-del","arguments":{"ip-address":"192.0.2.10"}}')
        self.assertEqual(answer, {"result": 0, "text": "IPv4 lease deleted."})
        rows = lease_file.read_text().splitlines()
        self.assertEqual([row.split(",")[0] for row in rows[1:]], ["192.0.2.10", "192.0.2.10"])
        self.assertEqual(rows[-1].split(",")[3], "0")
