#!/usr/bin/python3
"""Helpers for bench/gossip_bench.sh (not a test): wait for a cluster to
converge, time a crash until every survivor reports it failed, count
gossip payload bytes in a packet capture, read lictor's own counters, and
print the report.

The shell script starts and stops every process; this file only SIGKILLs
the victim it is given. Every wait here is bounded.
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kv_bench_lib as K  # noqa: E402

LICTOR_FAILED = 4	# Consul's serf.StatusFailed
LICTOR_ALIVE = 1


def members(kind, addr, serf):
    """{name: status} as one agent sees it; None if it did not answer.
    Status is lictor's number or serf's word."""
    try:
        if kind == "lictor":
            st, _, body = K.req(addr, "GET", "/v1/agent/members", timeout=2)
            if st != 200:
                return None
            return {m["Name"]: m["Status"] for m in json.loads(body)}
        r = subprocess.run([serf, "members", "-rpc-addr", addr,
                            "-format", "json"], capture_output=True,
                           timeout=2, check=False)
        if r.returncode != 0:
            return None
        return {m["name"]: m["status"]
                for m in json.loads(r.stdout)["members"]}
    except (OSError, ValueError, KeyError, http.client.HTTPException,
            subprocess.TimeoutExpired):
        return None


def is_alive(kind, status):
    return status == (LICTOR_ALIVE if kind == "lictor" else "alive")


def is_failed(kind, status):
    return status == (LICTOR_FAILED if kind == "lictor" else "failed")


def converge(kind, addrs, n, timeout, serf):
    """Until every agent lists n members, all alive."""
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        ok = True
        for a in addrs:
            m = members(kind, a, serf)
            if m is None or len(m) != n or \
                    not all(is_alive(kind, s) for s in m.values()):
                ok = False
                break
        if ok:
            return time.monotonic() - t0
        time.sleep(0.2)
    sys.exit("%s: %d agents did not all list %d alive members in %d s"
             % (kind, len(addrs), n, timeout))


def detect(kind, addrs, victim, root_pid, timeout, period, serf):
    """SIGKILL the victim (its process and every descendant, the parent
    first so that lictor's init cannot restart a daemon), then poll each
    survivor every `period` s until it reports the victim failed. Returns
    the seconds from the kill to each survivor's first such answer."""
    pids = K.tree_pids(root_pid)
    t0 = time.monotonic()
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    seen = {}
    while len(seen) < len(addrs) and time.monotonic() - t0 < timeout:
        tick = time.monotonic()
        for a in addrs:
            if a in seen:
                continue
            m = members(kind, a, serf)
            if m is not None and is_failed(kind, m.get(victim)):
                seen[a] = time.monotonic() - t0
        rest = period - (time.monotonic() - tick)
        if rest > 0:
            time.sleep(rest)
    return [seen.get(a, float("nan")) for a in addrs]


def pcap_bytes(path, groups, t_from, t_to):
    """Payload bytes (UDP payload + TCP segment payload, no headers) per
    group of ports in a libpcap file from `tcpdump -i lo`, of the packets
    captured between t_from and t_to (unix time). A packet belongs to the
    group owning its source or destination port; each packet is seen once
    on lo (libpcap drops the outgoing copy)."""
    owner = {}
    for g, ports in groups.items():
        for p in ports:
            owner[p] = g
    out = {g: [0, 0, 0, 0] for g in groups}	# udp bytes, pkts, tcp ...
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return out
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xa1b2c3d4, 0xa1b23c4d):
            e = "<"
        elif magic in (0xd4c3b2a1, 0x4d3cb2a1):
            e = ">"
        else:
            sys.exit("%s: not a pcap file" % path)
        frac = 1e-9 if magic in (0xa1b23c4d, 0x4d3cb2a1) else 1e-6
        link = struct.unpack(e + "I", hdr[20:24])[0]
        skip = {1: 14, 113: 16, 0: 4, 12: 0, 101: 0}.get(link)
        if skip is None:
            sys.exit("%s: link type %d not handled" % (path, link))
        while True:
            ph = f.read(16)
            if len(ph) < 16:
                break
            sec, sub, incl = struct.unpack(e + "III", ph[:12])
            d = f.read(incl)
            if not t_from <= sec + sub * frac <= t_to:
                continue
            ip = d[skip:]
            if len(ip) < 20 or ip[0] >> 4 != 4:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            proto = ip[9]
            l4 = ip[ihl:]
            if len(l4) < 4:
                continue
            sp, dp = struct.unpack(">HH", l4[:4])
            g = owner.get(sp, owner.get(dp))
            if g is None:
                continue
            if proto == 17:
                out[g][0] += total - ihl - 8
                out[g][1] += 1
            elif proto == 6 and len(l4) >= 13:
                pay = total - ihl - (l4[12] >> 4) * 4
                if pay > 0:
                    out[g][2] += pay
                    out[g][3] += 1
    return out


def ctl_bytes(lictor, dirs):
    """Sum over agents of lan.udp_bytes_out + lan.tcp_bytes_out."""
    tot = 0
    for d in dirs:
        r = subprocess.run([lictor, "ctl", "-data-dir", d, "gossipd",
                            "stats"], capture_output=True, text=True,
                           timeout=10, check=False)
        if r.returncode != 0:
            sys.exit("lictor ctl -data-dir %s gossipd stats: %s"
                     % (d, r.stderr.strip()))
        for line in r.stdout.splitlines():
            w = line.split()
            if len(w) == 2 and w[0] in ("lan.udp_bytes_out",
                                         "lan.tcp_bytes_out"):
                tot += int(w[1])
    return tot


def fmt(x, unit=""):
    if x is None or x != x:
        return "-"
    return "%.2f%s" % (x, unit)


def ratio(a, b):
    if a is None or b is None or a != a or b != b or b == 0:
        return "-"
    return "%.2fx" % (a / b)


def report(path, sim_path):
    det, byt, info, self_b = {}, {}, {}, {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            kv = dict(x.split("=", 1) for x in w[1:] if "=" in x)
            if w[0] == "DETECT":
                det.setdefault((kv["kind"], int(kv["n"])), []).append(kv)
            elif w[0] == "BYTES":
                byt[(kv["kind"], int(kv["n"]))] = kv
            elif w[0] == "SELF":
                self_b[int(kv["n"])] = kv
            elif w[0] == "INFO":
                info.update(kv)
    ns = sorted({n for _, n in list(det) + list(byt)})

    def dstats(kind, n):
        rows = det.get((kind, n), [])
        alls = [float(r["all"]) for r in rows]
        firsts = [float(r["first"]) for r in rows]
        if not alls or any(x != x for x in alls):
            return None, None, None, len(alls)
        return (statistics.median(alls), max(alls),
                statistics.median(firsts), len(alls))

    def bstats(kind, n):
        r = byt.get((kind, n))
        if r is None:
            return None, None
        return float(r["per_member"]), r

    print()
    print("========= lictor vs memberlist (Debian's serf agent): gossip "
          "on loopback =========")
    print("detection: SIGKILL of one agent, seconds until every survivor "
          "reports it failed;")
    print("  median and max over %s kill(s) per N, polled every %s s "
          "(lictor: /v1/agent/members" % (info.get("reps"),
                                          info.get("period")))
    print("  Status 4; serf: `serf members -format json` \"failed\")")
    print("bytes: UDP+TCP payload on the LAN gossip ports (tcpdump on lo) "
          "in a %s s window" % info.get("window"))
    print("  from %s s after the cluster's start, per member per second; "
          "both sides counted" % info.get("warmup"))
    print("  the same way%s" % (
        "" if int(info.get("warmup", 0)) >= 60 else
        " (warm-up under 60 s: push/pulls may be missing)"))
    print()
    hdr = "%4s | %15s | %15s | %6s | %11s | %11s | %6s" % (
        "N", "lictor med/max", "mlist med/max", "ratio", "lictor B/s",
        "mlist B/s", "ratio")
    print(hdr)
    print("-" * len(hdr))
    verdict = []
    for n in ns:
        lm, lx, _, _ = dstats("lictor", n)
        mm, mx, _, _ = dstats("serf", n)
        lb, _ = bstats("lictor", n)
        mb, _ = bstats("serf", n)
        print("%4d | %15s | %15s | %6s | %11s | %11s | %6s" % (
            n, "%s / %s" % (fmt(lm), fmt(lx)),
            "%s / %s" % (fmt(mm), fmt(mx)), ratio(lm, mm),
            "-" if lb is None else "%.0f" % lb,
            "-" if mb is None else "%.0f" % mb, ratio(lb, mb)))
        if lm is not None and mm is not None:
            d_ok = lm <= 1.25 * mm
            b_ok = lb is not None and mb is not None and lb <= mb
            verdict.append("  N=%d: detection %s (median %+.0f%% vs "
                           "memberlist), bytes %s (%s)" % (
                               n, "met" if d_ok else "MISSED",
                               100 * (lm / mm - 1),
                               "met" if b_ok else "MISSED",
                               ratio(lb, mb)))
    print()
    print("target (the issue): detection within 25% of memberlist's, no "
          "more bytes per member")
    for v in verdict:
        print(v)
    print()
    print("per kill (seconds from the kill: first survivor / median "
          "survivor / every survivor):")
    for (kind, n) in sorted(det):
        cells = ["%s/%s/%s" % (r["first"], r["median"], r["all"])
                 for r in det[(kind, n)]]
        print("  %-6s N=%-2d %s" % ("lictor" if kind == "lictor"
                                    else "mlist", n, "  ".join(cells)))
    print()
    print("bytes detail (per member per second: UDP payload, packets, mean "
          "payload per packet; TCP payload):")
    for (kind, n) in sorted(byt):
        r = byt[(kind, n)]
        extra = ""
        if kind == "lictor" and n in self_b:
            extra = "   lictor's own counters: %.0f B/s" % float(
                self_b[n]["per_member"])
        pps = float(r["udp_pps"])
        print("  %-6s N=%-2d UDP %5.0f B/s %5.2f pkt/s %4.0f B/pkt  "
              "TCP %5.0f B/s%s" % (
                  "lictor" if kind == "lictor" else "mlist", n,
                  float(r["udp_bps"]), pps,
                  float(r["udp_bps"]) / pps if pps else 0,
                  float(r["tcp_bps"]), extra))
    if sim_path and os.path.exists(sim_path):
        print()
        print("simulated (lictor's SWIM core in the deterministic simulator, "
              "`SWIM_SIM_BENCH=1 unit_swim_sim`;")
        print("  one crash, times over the members; no Go equivalent is run "
              "at these sizes):")
        with open(sim_path) as f:
            for line in f:
                print("  " + line.rstrip())


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    for name in ("converge", "detect"):
        p = sub.add_parser(name)
        p.add_argument("kind", choices=["lictor", "serf"])
        p.add_argument("--addrs", nargs="+", required=True)
        p.add_argument("--serf", default="serf")
        p.add_argument("--timeout", type=float, default=60)
        if name == "converge":
            p.add_argument("--n", type=int, required=True)
        else:
            p.add_argument("--victim", required=True)
            p.add_argument("--pid", type=int, required=True)
            p.add_argument("--period", type=float, default=0.1)
            p.add_argument("--label", default="")
    p = sub.add_parser("pcap")
    p.add_argument("file")
    p.add_argument("--group", action="append", required=True,
                   help="NAME:N:PORT,PORT,...")
    p.add_argument("--from", dest="t_from", type=float, required=True)
    p.add_argument("--to", dest="t_to", type=float, required=True)
    p = sub.add_parser("ctlbytes")
    p.add_argument("--lictor", required=True)
    p.add_argument("dirs", nargs="+")
    p = sub.add_parser("report")
    p.add_argument("file")
    p.add_argument("--sim")
    a = ap.parse_args()
    if a.cmd == "ports":
        print(" ".join(map(str, K.free_ports(a.n))))
    elif a.cmd == "converge":
        print("%.1f" % converge(a.kind, a.addrs, a.n, a.timeout, a.serf))
    elif a.cmd == "detect":
        t = detect(a.kind, a.addrs, a.victim, a.pid, a.timeout, a.period,
                   a.serf)
        ok = [x for x in t if x == x]
        print("DETECT kind=%s %s victim=%s first=%.2f median=%.2f all=%.2f"
              % (a.kind, a.label, a.victim,
                 min(ok) if ok else float("nan"),
                 statistics.median(ok) if ok else float("nan"),
                 max(t) if len(ok) == len(t) else float("nan")))
    elif a.cmd == "pcap":
        groups, sizes = {}, {}
        for g in a.group:
            name, n, ports = g.split(":")
            groups[name] = [int(x) for x in ports.split(",")]
            sizes[name] = int(n)
        res = pcap_bytes(a.file, groups, a.t_from, a.t_to)
        w = a.t_to - a.t_from
        for name, (ub, up, tb, tp) in res.items():
            n = sizes[name]
            print("BYTES kind=%s n=%d udp_bytes=%d udp_pkts=%d tcp_bytes=%d "
                  "tcp_pkts=%d udp_bps=%.1f udp_pps=%.2f tcp_bps=%.1f "
                  "per_member=%.1f" % (
                      name, n, ub, up, tb, tp, ub / w / n, up / w / n,
                      tb / w / n, (ub + tb) / w / n))
    elif a.cmd == "ctlbytes":
        print(ctl_bytes(a.lictor, a.dirs))
    else:
        report(a.file, a.sim)


if __name__ == "__main__":
    main()
