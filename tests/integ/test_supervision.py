"""Supervision: init restarts a daemon killed with SIGKILL, clients see a
quick 5xx or connection error (never a hang) meanwhile, and no
acknowledged write is lost. `lictor ctl` status/restart/stop and the
daemons' admin commands."""

import http.client
import os
import re
import socket
import threading
import time

import pytest

import lictor_harness as H

# A request that takes longer than this is a hang.
HANG = 4.0


class Writer(threading.Thread):
    """Writes prefix/NNNNNN = value in a loop, each on a fresh connection
    with a timeout, recording every outcome; bounded by count and time."""

    def __init__(self, agent, prefix, max_n=20000, max_time=90.0):
        super().__init__(daemon=True)
        self.a = agent
        self.prefix = prefix
        self.max_n = max_n
        self.deadline = time.monotonic() + max_time
        self.halt = threading.Event()
        self.results = []       # (i, key, value, outcome, elapsed, t_start)
        self.lock = threading.Lock()

    def run(self):
        i = 0
        while not self.halt.is_set() and i < self.max_n and \
                time.monotonic() < self.deadline:
            key = "%s/%06d" % (self.prefix, i)
            val = b"v%06d-" % i + os.urandom(8).hex().encode()
            t0 = time.monotonic()
            try:
                r = self.a.put("/v1/kv/" + key, body=val, timeout=HANG)
                outcome = (r.status, r.body)
            except (OSError, http.client.HTTPException) as ex:
                outcome = ("error", repr(ex))
            el = time.monotonic() - t0
            with self.lock:
                self.results.append((i, key, val, outcome, el, t0))
            if outcome != (200, b"true"):
                self.halt.wait(0.02)     # do not spin on a refused port
            i += 1

    def acked(self, since=0.0):
        with self.lock:
            return sum(1 for r in self.results
                       if r[3] == (200, b"true") and r[5] >= since)

    def wait_acked(self, n, since=0.0, timeout=20.0):
        deadline = time.monotonic() + timeout * H.SLOW
        while time.monotonic() < deadline:
            if self.acked(since) >= n:
                return
            if not self.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("only %d acknowledged writes since t=%.2f "
                             "(wanted %d); last outcomes %r" % (
                                 self.acked(since), since, n,
                                 [r[3] for r in self.results[-5:]]))


def _check_writer(a, w):
    hangs = [r for r in w.results if r[4] >= HANG or
             (r[3][0] == "error" and "timed out" in r[3][1])]
    assert not hangs, "requests hung (>= %.0f s): %r" % (
        HANG, [(r[1], r[3], round(r[4], 2)) for r in hangs[:10]])
    bad = []
    for r in w.results:
        st = r[3][0]
        if r[3] == (200, b"true"):
            continue
        if st == "error" or (isinstance(st, int) and 500 <= st < 600):
            continue
        bad.append(r)
    assert not bad, "writes answered neither 200 true nor a 5xx or a " \
        "connection error: %r" % [(r[1], r[3]) for r in bad[:10]]
    acked = [r for r in w.results if r[3] == (200, b"true")]
    lost = []
    for r in acked:
        e = a.kv_entry(r[1])
        if e is None or e["Value"] != r[2]:
            lost.append((r[1], e))
    assert not lost, "%d of %d acknowledged writes lost or wrong: %r" % (
        len(lost), len(acked), lost[:10])
    return acked


@pytest.mark.timeout(240)
def test_sigkill_daemons_under_write_load(agent):
    a = agent
    agent_pid = a.pid
    w = Writer(a, "sup/load")
    w.start()
    try:
        w.wait_acked(30)
        for name in ("kvd", "httpd"):
            before = a.status()[name]
            t_kill = time.monotonic()
            old = a.kill_daemon(name)
            d = a.wait_daemon(name, old_pid=old, min_restarts=1)
            assert d["restarts"] >= before["restarts"] + 1, (before, d)
            assert H.pid_alive(d["pid"]) and d["pid"] != old
            # the API serves writes again
            w.wait_acked(30, since=time.monotonic())
            gap = [r for r in w.results if r[5] >= t_kill and
                   r[3] != (200, b"true")]
            print("%s: %d failed writes during the gap: %r" % (
                name, len(gap), sorted({str(r[3])[:60] for r in gap})[:5]))
    finally:
        w.halt.set()
        w.join(15)
    assert not w.is_alive(), "writer thread stuck"
    assert a.running() and a.pid == agent_pid, "init itself died"
    acked = _check_writer(a, w)
    assert len(acked) >= 90
    st = a.status()
    assert st["kvd"]["restarts"] >= 1 and st["httpd"]["restarts"] >= 1, st


def _park(a, path, out):
    def run():
        t0 = time.monotonic()
        try:
            r = a.get(path, timeout=35)
            out["r"] = (r.status, r.body[:100])
        except (OSError, http.client.HTTPException) as ex:
            out["r"] = ("error", repr(ex))
        out["t"] = time.monotonic()
        out["el"] = out["t"] - t0
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@pytest.mark.parametrize("victim", ["kvd", "httpd"])
def test_parked_blocking_query_fails_fast_when_daemon_dies(agent, victim):
    a = agent
    a.kv_put("sup/parked", b"v")
    idx = a.get("/v1/kv/sup/parked").index
    out = {}
    th = _park(a, "/v1/kv/sup/parked?index=%d&wait=30s" % idx, out)
    # give the request time to reach kvd and park there
    threading.Event().wait(0.7)
    assert "r" not in out, "blocking query returned early: %r" % out
    t_kill = time.monotonic()
    old = a.kill_daemon(victim)
    th.join(10)
    assert "r" in out, "blocking query still hanging 10 s after %s died" \
        % victim
    took = out["t"] - t_kill
    assert took < HANG, "parked query answered %.2f s after %s died" % (
        took, victim)
    status = out["r"][0]
    assert status == "error" or status >= 500 or status == 200, out
    a.wait_daemon(victim, old_pid=old, min_restarts=1)
    a.wait_http()
    assert a.kv_entry("sup/parked")["Value"] == b"v"


def test_ctl_status_format(agent):
    a = agent
    r = a.ctl(["status"])
    assert r.returncode == 0, r
    lines = [l for l in r.stdout.decode().splitlines() if l.strip()]
    assert lines[0].split()[:5] == ["NAME", "PID", "STATE", "UPTIME",
                                    "RESTARTS"], lines[0]
    st = a.status()
    assert {"kvd", "httpd"} <= set(st), st
    kids = H.descendants_of(a.pid)
    for name in ("kvd", "httpd"):
        d = st[name]
        assert d["state"] == "running", d
        assert d["pid"] in kids, "ctl status pid %d of %s is not a child " \
            "of the agent" % (d["pid"], name)
        assert d["restarts"] == 0, d
        with open("/proc/%d/cmdline" % d["pid"], "rb") as f:
            assert b"lictor-" + name.encode() in f.read()


def test_ctl_restart(agent):
    a = agent
    a.kv_put("sup/ctl/k", b"before")
    for name in ("kvd", "httpd"):
        old = a.status()[name]["pid"]
        r = a.ctl(["restart", name])
        assert r.returncode == 0, r
        d = a.wait_daemon(name, old_pid=old)
        assert not H.pid_alive(old), "old %s pid %d still alive" % (name, old)
        assert d["pid"] != old
        a.wait_http()
        assert a.kv_entry("sup/ctl/k")["Value"] == b"before"
        assert a.put("/v1/kv/sup/ctl/" + name, body=b"x").body == b"true"
    r = a.ctl(["restart", "no-such-daemon"])
    assert r.returncode != 0, r
    assert r.stderr.strip(), "an error message is expected"


def test_ctl_daemon_admin_commands(agent):
    a = agent
    for i in range(5):
        a.kv_put("sup/admin/%d" % i, b"x")
    r = a.ctl(["kvd", "stats"])
    assert r.returncode == 0, r
    assert re.search(rb"\d", r.stdout), "kvd stats shows no counters: %r" \
        % r.stdout
    r = a.ctl(["httpd", "stats"])
    assert r.returncode == 0, r
    for d in ("kvd", "httpd"):
        r = a.ctl([d, "loglevel", "debug"])
        assert r.returncode == 0, r
        r = a.ctl([d, "loglevel"])
        assert r.returncode == 0 and b"debug" in r.stdout.lower(), r
        r = a.ctl([d, "loglevel", "info"])
        assert r.returncode == 0, r
    r = a.ctl(["kvd", "loglevel", "loudest"])
    assert r.returncode != 0, "an unknown log level must be refused: %r" % r
    r = a.ctl(["kvd", "no-such-command"])
    assert r.returncode != 0, r
    # the agent is unharmed
    assert a.kv_entry("sup/admin/0")["Value"] == b"x"


def test_ctl_stop(agent):
    a = agent
    kids = H.descendants_of(a.pid)
    port = a.http_port
    r = a.ctl(["stop"])
    assert r.returncode == 0, r
    code = a.wait_exit(H.STOP_TIMEOUT)
    assert code is not None, "agent still running %.0f s after ctl stop" % \
        H.STOP_TIMEOUT
    assert code == 0, "agent exit code after ctl stop: %r" % code
    for pid, start in kids.items():
        assert not H.pid_alive(pid, start), \
            "daemon %d outlived the agent after ctl stop" % pid
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    r = a.ctl(["status"])
    assert r.returncode != 0, "ctl status on a stopped agent: %r" % r


def test_ctl_without_agent(tmp_path):
    a = H.Agent(tmp_path)
    r = a.ctl(["status"], timeout=15)
    assert r.returncode != 0 and r.returncode > 0, r
    assert r.stderr.strip(), r
