#!/usr/bin/python3
"""Helpers for bench/kv_bench.sh (not a test): free ports, readiness
polls, preloading keys into lictor and etcd, parking blocking queries
while measuring the agent's memory, and the final report.

Every wait here is bounded; nothing is left running.
"""

import argparse
import base64
import http.client
import json
import os
import resource
import selectors
import socket
import sys
import threading
import time


def free_ports(n):
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            p = s.getsockname()[1]
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind(("127.0.0.1", p))
            except OSError:
                continue
            finally:
                u.close()
            ports.append(p)
    finally:
        for s in socks:
            s.close()
    return ports


def req(addr, method, path, body=None, headers=None, timeout=10):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def wait_ready(addr, kind, timeout, pid):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if pid and not os.path.exists("/proc/%d" % pid):
            sys.exit("%s (pid %d) exited before it was ready" % (kind, pid))
        try:
            if kind == "lictor":
                st, _, body = req(addr, "GET", "/v1/status/leader", timeout=2)
                if st == 200 and json.loads(body):
                    return
            else:
                st, _, body = req(addr, "GET", "/health", timeout=2)
                if st == 200 and json.loads(body).get("health") == "true":
                    return
            last = (st, body[:100])
        except (OSError, ValueError, http.client.HTTPException) as ex:
            last = ex
        time.sleep(0.1)
    sys.exit("%s at %s not ready after %d s: %r" % (kind, addr, timeout, last))


def key_name(i):
    return "bench/key%05d" % i


def value_for(i, size):
    v = ("v%05d-" % i).encode()
    return (v * (size // len(v) + 1))[:size]


def preload(addr, kind, nkeys, size, conns):
    errors = []
    host, port = addr.rsplit(":", 1)

    def worker(lo, hi):
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            for i in range(lo, hi):
                k, v = key_name(i), value_for(i, size)
                if kind == "lictor":
                    c.request("PUT", "/v1/kv/" + k, body=v)
                else:
                    c.request("POST", "/v3/kv/put", body=json.dumps({
                        "key": base64.b64encode(k.encode()).decode(),
                        "value": base64.b64encode(v).decode()}))
                r = c.getresponse()
                body = r.read()
                if r.status != 200 or (kind == "lictor" and body != b"true"):
                    errors.append((k, r.status, body[:100]))
                    return
        except (OSError, http.client.HTTPException) as ex:
            errors.append(("conn", repr(ex)))
        finally:
            c.close()

    t0 = time.monotonic()
    step = (nkeys + conns - 1) // conns
    ths = [threading.Thread(target=worker,
                            args=(lo, min(nkeys, lo + step)), daemon=True)
           for lo in range(0, nkeys, step)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(300)
    if errors or any(t.is_alive() for t in ths):
        sys.exit("preload of %s failed: %r" % (kind, errors[:5]))
    el = time.monotonic() - t0
    print("preloaded %d keys of %d bytes into %s in %.1f s (%.0f writes/s)"
          % (nkeys, size, kind, el, nkeys / el))


def tree_pids(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
                ppid = int(s[s.rfind(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_rss(pid):
    name, rss = "?", 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Name:"):
                    name = line.split()[1]
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return name, rss


def rss_report(root):
    parts = [(p,) + proc_rss(p) for p in tree_pids(root)]
    return sum(r for _, _, r in parts), parts


def park(addr, agent_pid, n, nkeys, timeout):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (min(max(want, soft), hard), hard))
        except (ValueError, OSError):
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        n = soft - 256
        print("note: open-file limit %d: parking only %d queries" % (soft, n))

    st, hdrs, _ = req(addr, "GET", "/v1/kv/bench/?keys")
    idx = int(hdrs.get("X-Consul-Index", "0"))
    if st != 200 or idx <= 0:
        sys.exit("cannot read the current index (%d)" % st)
    base_kib, base_parts = rss_report(agent_pid)
    host, port = addr.rsplit(":", 1)
    port = int(port)

    sel = selectors.DefaultSelector()
    socks = []
    pending = {}
    answered = 0
    failed = 0
    t0 = time.monotonic()
    deadline = t0 + timeout
    i = 0
    try:
        while (i < n or pending) and time.monotonic() < deadline:
            # open in batches so the listen backlog is not overrun
            while i < n and len(pending) < 512:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex((host, port))
                line = ("GET /v1/kv/%s?index=%d&wait=5m HTTP/1.1\r\n"
                       "Host: %s\r\n\r\n" % (key_name(i % nkeys), idx,
                                             addr)).encode()
                pending[s] = line
                socks.append(s)
                sel.register(s, selectors.EVENT_WRITE)
                i += 1
            for key, ev in sel.select(timeout=0.5):
                s = key.fileobj
                if ev & selectors.EVENT_WRITE and s in pending:
                    try:
                        s.send(pending.pop(s))
                        sel.modify(s, selectors.EVENT_READ)
                    except OSError:
                        pending.pop(s, None)
                        sel.unregister(s)
                        failed += 1
                elif ev & selectors.EVENT_READ:
                    sel.unregister(s)
                    answered += 1
        if i < n or pending:
            print("note: only %d of %d queries sent within %d s"
                  % (i - len(pending), n, timeout))
        sent = i - len(pending)
        t_sent = time.monotonic() - t0
        # let the agent settle, then count early answers once more
        settle = time.monotonic() + 3
        while time.monotonic() < settle:
            for key, ev in sel.select(timeout=0.2):
                sel.unregister(key.fileobj)
                answered += 1
        kib, parts = rss_report(agent_pid)
        parked = sent - answered - failed
        st, _, _ = req(addr, "GET", "/v1/status/leader", timeout=10)
        print("PARK sent=%d parked=%d answered_early=%d failed=%d "
              "send_s=%.1f" % (sent, parked, answered, failed, t_sent))
        print("PARK rss_before_kib=%d rss_parked_kib=%d" % (base_kib, kib))
        for pid, name, rss in parts:
            print("PARK proc pid=%d name=%s rss_kib=%d" % (pid, name, rss))
        print("PARK agent_answers_while_parked=%s" % (st == 200))
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        sel.close()


def report(lines_file):
    """Turn RESULT lines (from wrk's done()) and PARK lines into the
    labelled summary."""
    res, park_kv, procs = {}, {}, []
    with open(lines_file) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "RESULT":
                kv = dict(x.split("=", 1) for x in w[1:])
                res[(kv["target"], kv["op"])] = kv
            elif w[0] == "PARK" and len(w) > 1 and w[1] == "proc":
                procs.append(dict(x.split("=", 1) for x in w[2:]))
            elif w[0] == "PARK":
                park_kv.update(dict(x.split("=", 1) for x in w[1:]))
            elif w[0] == "INFO":
                park_kv.update(dict(x.split("=", 1) for x in w[1:]))

    def g(t, op, k):
        return float(res[(t, op)][k]) if (t, op) in res else float("nan")

    print()
    print("==================== lictor vs etcd: KV on this machine "
          "====================")
    print("keys %s x %s-byte values; wrk %s; each server one member, durable"
          % (park_kv.get("nkeys", "?"), park_kv.get("vsize", "?"),
             park_kv.get("wrk", "?")))
    print()
    hdr = "%-6s %-7s %12s %11s %11s %9s" % ("op", "server", "requests/s",
                                            "p50 (ms)", "p99 (ms)",
                                            "non-2xx")
    print(hdr)
    print("-" * len(hdr))
    for op in ("PUT", "GET"):
        for t in ("lictor", "etcd"):
            if (t, op) not in res:
                print("%-6s %-7s %12s" % (op, t, "(no result)"))
                continue
            r = res[(t, op)]
            bad = int(r["errors_status"]) + int(r["errors_connect"]) + \
                int(r["errors_read"]) + int(r["errors_write"]) + \
                int(r["errors_timeout"])
            print("%-6s %-7s %12.0f %11.2f %11.2f %9d" % (
                op, t, float(r["rps"]), float(r["p50_us"]) / 1000,
                float(r["p99_us"]) / 1000, bad))
    print()
    print("ratios lictor/etcd (requests/s: higher is better for lictor; "
          "latency: lower is better)")
    for op in ("PUT", "GET"):
        def ratio(k):
            e = g("etcd", op, k)
            return g("lictor", op, k) / e if e else float("nan")
        print("  %-4s requests/s %.2fx   p50 %.2fx   p99 %.2fx" % (
            op, ratio("rps"), ratio("p50_us"), ratio("p99_us")))
    print()
    if park_kv:
        mib = lambda k: int(park_kv.get(k, 0)) / 1024.0
        print("memory: RSS of the lictor agent's processes (init + daemons)")
        print("  after preload, idle:              %8.1f MiB" % mib(
            "rss_before_kib"))
        print("  with %s blocking queries parked: %8.1f MiB" % (
            park_kv.get("parked", "?"), mib("rss_parked_kib")))
        parked = int(park_kv.get("parked", 0))
        if parked:
            d = int(park_kv["rss_parked_kib"]) - int(
                park_kv["rss_before_kib"])
            print("  per parked query:                 %8.2f KiB" % (
                d / parked))
        for p in procs:
            print("    %-14s pid %-7s %8.1f MiB" % (
                p["name"], p["pid"], int(p["rss_kib"]) / 1024.0))
        print("  queries sent %s, answered early %s, failed %s; agent "
              "answered while parked: %s" % (
                  park_kv.get("sent"), park_kv.get("answered_early"),
                  park_kv.get("failed"),
                  park_kv.get("agent_answers_while_parked")))
        if "etcd_rss_kib" in park_kv:
            print("  (for reference: etcd RSS after its load: %.1f MiB)"
                  % (int(park_kv["etcd_rss_kib"]) / 1024.0))
    print("=" * 78)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("wait")
    p.add_argument("kind", choices=["lictor", "etcd"])
    p.add_argument("addr")
    p.add_argument("--timeout", type=int, default=30)
    p.add_argument("--pid", type=int, default=0)
    p = sub.add_parser("preload")
    p.add_argument("kind", choices=["lictor", "etcd"])
    p.add_argument("addr")
    p.add_argument("--keys", type=int, default=10000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--conns", type=int, default=16)
    p = sub.add_parser("park")
    p.add_argument("addr")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--keys", type=int, default=10000)
    p.add_argument("--timeout", type=int, default=90)
    p = sub.add_parser("rss")
    p.add_argument("pid", type=int)
    p = sub.add_parser("report")
    p.add_argument("file")
    a = ap.parse_args()
    if a.cmd == "ports":
        print(" ".join(map(str, free_ports(a.n))))
    elif a.cmd == "wait":
        wait_ready(a.addr, a.kind, a.timeout, a.pid)
    elif a.cmd == "preload":
        preload(a.addr, a.kind, a.keys, a.size, a.conns)
    elif a.cmd == "park":
        park(a.addr, a.pid, a.n, a.keys, a.timeout)
    elif a.cmd == "rss":
        print(rss_report(a.pid)[0])
    elif a.cmd == "report":
        report(a.file)


if __name__ == "__main__":
    main()
