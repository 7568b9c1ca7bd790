"""
The measurements besides the rate search: lease sync from a partner
(C{ha-sync} of N leases), start-up time and memory with a big memfile,
and lease file cleanup (C{kea-lfc} against ours) on that file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from ipaddress import IPv4Address, IPv4Network

from bench import configs, lab
from bench.scenarios import Bench, StartError, scenario

HEADER = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
          "hostname,state,user_context\n")
STARTUP_SUBNET = IPv4Network("10.0.0.0/12")


def write_lease_file(path: str, count: int, subnet: IPv4Network, *, now: int,
                     valid: int = 86400, subnet_id: int = 1) -> str:
    """
    A Kea 2.2 memfile (schema 2.1) with C{count} valid leases from the
    first address of C{subnet} on, one per made-up MAC.
    """
    if count >= subnet.num_addresses - 2:
        raise ValueError(f"{count} leases do not fit in {subnet}")
    first = int(subnet.network_address) + 1
    expire = now + valid
    with open(path, "w") as f:
        f.write(HEADER)
        chunk = []
        for i in range(count):
            mac = (0x020000000000 + i).to_bytes(6, "big").hex(":")
            chunk.append(f"{IPv4Address(first + i)},{mac},,{valid},{expire},{subnet_id},0,0,,0,\n")
            if len(chunk) >= 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    return path


def count_rows(path: str) -> int:
    """Data rows (lines after the header) in a lease file; 0 if absent."""
    try:
        with open(path, "rb") as f:
            return max(0, sum(1 for _ in f) - 1)
    except OSError:
        return 0


def distinct_addresses(path: str) -> int:
    """Distinct addresses with a valid lease (last row wins) in a lease file."""
    live: dict[bytes, bool] = {}
    try:
        with open(path, "rb") as f:
            next(f, None)
            for line in f:
                parts = line.split(b",", 4)
                if len(parts) >= 4:
                    live[parts[0]] = parts[3] != b"0"
    except OSError:
        return 0
    return sum(1 for v in live.values() if v)


# -- sync ----------------------------------------------------------------------------

def sync(bench: Bench, source_kind: str, target_kind: str, leases: int, work: str,
         timeout: float = 600.0) -> dict:
    """
    A hot-standby pair, C{sync-leases} off, server1 (C{source_kind}) with
    C{leases} leases in its memfile, server2 (C{target_kind}) empty; once
    both serve, C{ha-sync} to server2 and time it until its answer.
    """
    src = os.path.join(work, f"sync-{leases}.csv")
    if not os.path.exists(src):
        write_lease_file(src, leases, configs.SUBNET, now=int(time.time()))
    sc = scenario("hot-standby", (source_kind, target_kind))
    out: dict = {"leases": leases, "source": source_kind, "target": target_kind}
    procs = bench.start(sc, preload={0: src}, sync_leases=False)
    try:
        url = f"http://{lab.SERVER_ADDRESSES[1]}:{configs.HA_PORT}/"
        cpu0 = [p.cpu() for p in procs]
        t0 = time.monotonic()
        answer = lab.ha_command(url, "ha-sync", {"server-name": "server1", "max-period": 600},
                                timeout=timeout)
        out["seconds"] = round(time.monotonic() - t0, 3)
        cpu1 = [p.cpu() for p in procs]
        out["cpu_by_proc"] = {p.label: round(b - a, 3)
                              for p, a, b in zip(procs, cpu0, cpu1, strict=True)}
        out["answer"] = answer
        out["hwm_kib"] = {p.label: p.hwm_kib() for p in procs}
        target_file = os.path.join(bench.dir_of(sc), "leases2.csv")
    finally:
        bench.stop(procs)
    out["target_leases"] = distinct_addresses(target_file)
    out["complete"] = bool(answer and answer.get("result") == 0
                           and out["target_leases"] >= leases)
    return out


# -- start-up ------------------------------------------------------------------------

def startup(bench: Bench, kind: str, leases: int, work: str) -> dict:
    """
    One server started on a memfile of C{leases} leases: seconds from
    spawn to its first OFFER, then VmRSS and VmHWM.
    """
    src = os.path.join(work, f"startup-{leases}.csv")
    if not os.path.exists(src):
        write_lease_file(src, leases, STARTUP_SUBNET, now=int(time.time()))
    sc = scenario("single", (kind,))
    t0 = time.monotonic()
    procs = bench.start(sc, preload={0: src}, subnet=STARTUP_SUBNET)
    seconds = time.monotonic() - t0
    try:
        p = procs[0]
        out = {"leases": leases, "seconds": round(seconds, 3),
               "rss_mib": round(p.rss_kib() / 1024, 1), "hwm_mib": round(p.hwm_kib() / 1024, 1),
               "cpu_s": round(p.cpu(), 3)}
    finally:
        bench.stop(procs)
    return out


# -- lease file cleanup -----------------------------------------------------------------

def lfc(kind: str, source: str, work: str, *, python: str, repo: str = lab.REPO,
        timeout: float = 600.0) -> dict:
    """
    Run C{kea-lfc} (or ours, C{python -m kea_ha_tw.leases.lfc}, same
    options) on a copy of C{source}: wall seconds, CPU, peak RSS (from
    C{wait4}), and the rows of the result.
    """
    d = os.path.join(work, f"lfc-{kind}")
    lab.clean_dir(d)
    base = os.path.join(d, "leases4.csv")
    copy, previous = base + ".1", base + ".2"
    shutil.copyfile(source, copy)
    args = ["-4", "-x", previous, "-i", copy, "-o", base + ".output", "-f", base + ".completed",
            "-p", base + ".pid", "-c", os.path.join(d, "unused.json")]
    env = dict(os.environ)
    if kind == "kea":
        argv = ["kea-lfc", *args]
    else:
        argv = [python, "-m", "kea_ha_tw.leases.lfc", *args]
        env["PYTHONPATH"] = repo
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = t0 + timeout
    status, usage = None, None
    while time.monotonic() < deadline:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status, usage = st, ru
            break
        time.sleep(0.02)
    seconds = time.monotonic() - t0
    if status is None:
        p.kill()
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"rows": count_rows(source), "seconds": round(seconds, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "maxrss_mib": round(usage.ru_maxrss / 1024, 1), "exit": p.returncode,
            "output_rows": count_rows(previous)}


__all__ = ["StartError", "count_rows", "distinct_addresses", "lfc", "startup", "sync",
           "write_lease_file"]
