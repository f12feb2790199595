#!/usr/bin/python3
"""Helpers for bench/raft_bench.sh (not a test): find the leader of a
lictor or etcd cluster, time a failover, and print the report.

Every wait is bounded; nothing is left running."""

import argparse
import statistics
import base64
import http.client
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kv_bench_lib as K  # noqa: E402


def lictor_leader(addrs, timeout):
    """Index (0-based) of the lictor server whose HTTP port belongs to the
    leader: the server port in /v1/status/leader is matched through each
    server's /v1/operator/raft/configuration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st, _, body = K.req(addrs[0], "GET",
                                "/v1/operator/raft/configuration", timeout=2)
            if st == 200:
                conf = json.loads(body)
                leader = [s for s in conf["Servers"] if s["Leader"]]
                if leader:
                    for i, a in enumerate(addrs):
                        st, _, b = K.req(a, "GET", "/v1/agent/self",
                                         timeout=2)
                        if st == 200 and json.loads(b)["Config"][
                                "NodeName"] == leader[0]["Node"]:
                            return i
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    sys.exit("no lictor leader after %d s" % timeout)


def etcd_leader(addrs, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, a in enumerate(addrs):
            try:
                st, _, body = K.req(a, "POST", "/v3/maintenance/status",
                                    body=b"{}", timeout=2)
                if st == 200:
                    j = json.loads(body)
                    if j.get("leader") and j["leader"] == \
                            j["header"]["member_id"]:
                        return i
            except (OSError, ValueError, KeyError,
                    http.client.HTTPException):
                pass
        time.sleep(0.1)
    sys.exit("no etcd leader after %d s" % timeout)


def put_once(kind, addr, i, timeout):
    key = "bench/failover%05d" % i
    try:
        if kind == "lictor":
            st, _, body = K.req(addr, "PUT", "/v1/kv/" + key, body=b"x",
                                timeout=timeout)
            return st == 200 and body.strip() == b"true"
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                           "value": "eA=="}).encode()
        st, _, _ = K.req(addr, "POST", "/v3/kv/put", body=body,
                         headers={"Content-Type": "application/json"},
                         timeout=timeout)
        return st == 200
    except (OSError, http.client.HTTPException):
        return False


def failover(kind, addrs, pids, leader, timeout):
    """SIGKILL the leader (every pid of it), then time until a write
    through another member is acknowledged."""
    other = [a for i, a in enumerate(addrs) if i != leader]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < timeout:
        if put_once(kind, other[n % len(other)], n, 2):
            return time.monotonic() - t0
        n += 1
        time.sleep(0.01)
    return float("nan")


def report(path):
    runs, info = {}, {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "RESULT":
                kv = dict(x.split("=", 1) for x in w[1:])
                runs.setdefault((kv["target"], kv["conns"]), {})[
                    kv.get("round", "1")] = kv
            elif w[0] == "INFO":
                info.update(dict(x.split("=", 1) for x in w[1:]))

    def med(rs, k):
        return statistics.median(float(r[k]) for r in rs.values())

    print()
    print("============ lictor vs etcd: 3 servers on loopback, durable "
          "PUTs ============")
    rounds = int(info.get("rounds", "1"))
    print("%s keys x %s-byte values; wrk against each cluster's leader; "
          "%s s per run%s" % (info.get("nkeys"), info.get("vsize"),
                              info.get("duration"),
                              "; medians of %d rounds" % rounds
                              if rounds > 1 else ""))
    if int(info.get("warm", "0")) > 0:
        print("both clusters warmed up first: %s s each of 64 clients' PUTs "
              "(not recorded; lictor's raftds %s), then 5 s idle"
              % (info["warm"], "reusing their log files"
                 if info.get("reused") == "1" else
                 "NOT yet reusing their log files"))
    if info.get("poll", "?") != "?":
        print("idle vCPUs poll %s ns before halting (the guest's "
              "haltpoll.guest_halt_poll_ns)" % info["poll"])
    print()
    hdr = "%-6s %-7s %12s %10s %10s %8s" % ("conns", "server", "PUT/s",
                                           "p50 (ms)", "p99 (ms)", "errors")
    print(hdr)
    print("-" * len(hdr))
    for c in info.get("conns_list", "").split(","):
        for t in ("lictor", "etcd"):
            rs = runs.get((t, c))
            if not rs:
                print("%-6s %-7s %12s" % (c, t, "(no result)"))
                continue
            bad = sum(int(r[k]) for r in rs.values()
                      for k in ("errors_status", "errors_connect",
                                "errors_read", "errors_write",
                                "errors_timeout"))
            print("%-6s %-7s %12.0f %10.2f %10.2f %8d" % (
                c, t, med(rs, "rps"), med(rs, "p50_us") / 1000,
                med(rs, "p99_us") / 1000, bad))
    print()
    print("ratios lictor/etcd (PUT/s: higher is better for lictor; "
          "latency: lower is better)")
    for c in info.get("conns_list", "").split(","):
        a, b = runs.get(("lictor", c)), runs.get(("etcd", c))
        if not a or not b:
            continue
        print("  %3s conns: PUT/s %.2fx   p50 %.2fx   p99 %.2fx" % (
            c, med(a, "rps") / med(b, "rps"),
            med(a, "p50_us") / med(b, "p50_us"),
            med(a, "p99_us") / med(b, "p99_us")))
        both = sorted(set(a) & set(b))
        if len(both) > 1:
            def spread(k):
                v = [float(a[r][k]) / float(b[r][k]) for r in both]
                return "%.2f-%.2fx" % (min(v), max(v))
            print("             per round: PUT/s %s   p50 %s   p99 %s" % (
                spread("rps"), spread("p50_us"), spread("p99_us")))
    print()
    print("failover: SIGKILL of the leader, time to the first "
          "acknowledged write")
    for t in ("lictor", "etcd"):
        v = info.get("failover_" + t)
        print("  %-7s %s" % (t, "%.3f s" % float(v) if v else "(not run)"))
    if info.get("failover_lictor") and info.get("failover_etcd"):
        print("  ratio lictor/etcd %.2fx" % (float(info["failover_lictor"]) /
                                             float(info["failover_etcd"])))
    print("=" * 78)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("leader")
    p.add_argument("kind", choices=["lictor", "etcd"])
    p.add_argument("addrs", nargs="+")
    p.add_argument("--timeout", type=int, default=30)
    p = sub.add_parser("failover")
    p.add_argument("kind", choices=["lictor", "etcd"])
    p.add_argument("--addrs", nargs="+", required=True)
    p.add_argument("--pids", nargs="+", type=int, required=True)
    p.add_argument("--leader", type=int, required=True)
    p.add_argument("--timeout", type=int, default=30)
    p = sub.add_parser("report")
    p.add_argument("file")
    a = ap.parse_args()
    if a.cmd == "leader":
        f = lictor_leader if a.kind == "lictor" else etcd_leader
        print(f(a.addrs, a.timeout))
    elif a.cmd == "failover":
        print("%.3f" % failover(a.kind, a.addrs, a.pids, a.leader,
                                a.timeout))
    else:
        report(a.file)


if __name__ == "__main__":
    main()
