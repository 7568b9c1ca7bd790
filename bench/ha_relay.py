"""
Micro-benchmark of the HA listener process's request path, without
sockets: N HA C{lease4-update} requests, as our peer client writes them,
through the lean HTTP channel into L{kea_ha_tw.ha.listener_relay.UpdateRelay}
(Kea's lease parser, the answer, the queue), with an upstream that never
answers, so every update is queued and none is sent on.

    python -m bench.ha_relay [N]

Prints microseconds per request (CPU); compare C{python -m bench.ha_listener}
(the same requests applied in the server's own process).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport

from bench.ha_listener import requests, standby_config


def run(n: int) -> None:
    """Feed the requests; check every answer is an acknowledgement; print the CPU per request."""
    from kea_ha_tw.commands.resource import ControlChannelResource, ControlSite
    from kea_ha_tw.config.loader import parse_config
    from kea_ha_tw.ha.listener_child import RelayContext
    from kea_ha_tw.ha.listener_relay import UpdateRelay

    cfg = standby_config(tempfile.mkdtemp(prefix="khb-relay-"))
    reactor = MemoryReactorClock()
    reactor.advance(1_795_600_000)
    relay = UpdateRelay(lambda body: Deferred(), RelayContext(parse_config(json.dumps(cfg)),
                                                              reactor), reactor)
    protocol = ControlSite(ControlChannelResource(relay, None), reactor).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    reqs = requests(n)
    start = time.process_time()
    for data in reqs:
        protocol.dataReceived(data)
        transport.clear()
    spent = time.process_time() - start
    if relay.acknowledged != n:
        sys.exit(f"only {relay.acknowledged} of {n} updates were acknowledged")
    print(f"{n} lease4-update requests through the relay: {spent / n * 1e6:.1f} us/request (CPU)")


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 5000)
