"""Multi-server Raft clusters on loopback: formation from
-bootstrap-expect, writes and reads through every server in every
consistency mode, failover under write load (leader's raftd SIGKILLed,
then a whole leader agent), catch-up of a wiped server through a
snapshot, five servers losing two, a server without quorum (fails fast,
never hangs), Debian's python3-consul against followers, membership
(join, remove-peer, leave, transfer-leader) and garbage on the server
RPC port.

Each server is `lictor agent -server -bootstrap-expect N -retry-join
<server 0>` with ports of its own that stay the same across restarts (a
server's Raft address is part of its identity). Agents are stopped by
pid at teardown (conftest), and their logs are scanned for crashes and
sanitizer reports."""

import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import threading
import time
import uuid

import pytest

import lictor_harness as H

# Per-request timeout: a request that takes this long hung.
HANG = 15.0
ACK = (200, b"true")
S = H.SLOW


# ---------------------------------------------------------------- helpers

def request(a, method, path, body=None, timeout=HANG):
    """(status, body, headers, elapsed) or ("error", repr, None, elapsed)."""
    t0 = time.monotonic()
    try:
        r = a.http(method, path, body=body, timeout=timeout)
        return r.status, r.body, r.headers, time.monotonic() - t0
    except (OSError, http.client.HTTPException) as ex:
        return "error", repr(ex), None, time.monotonic() - t0


def put_retry(a, key, value, timeout=20.0 * S):
    """PUT until acknowledged; 5xx and connection errors are retried until
    the deadline (a new leader may be settling). Anything else fails."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        st, body, _, el = request(a, "PUT", "/v1/kv/" + key, value)
        assert el < HANG, "PUT %s hung %.1f s" % (key, el)
        if (st, body) == ACK:
            return
        assert st == "error" or st >= 500, \
            "PUT %s on %s: %r %r" % (key, a.name, st, body)
        last = (st, body)
        time.sleep(0.1)
    raise AssertionError("PUT %s on %s never acknowledged in %.0f s; last "
                         "%r" % (key, a.name, timeout, last))


def kv_tree(a, prefix, mode="", timeout=HANG):
    """{key: value bytes} of a recursive read of prefix (mode "" default,
    "consistent" or "stale"); {} on 404."""
    q = "?recurse" + ("&" + mode if mode else "")
    r = a.get("/v1/kv/%s%s" % (prefix, q), timeout=timeout)
    if r.status == 404:
        return {}
    assert r.status == 200, (a.name, mode, r)
    return {e["Key"]: H.unb64(e["Value"]) for e in r.json()}


def leader_of(agents):
    """The agent whose raftd says it is the leader (None if none)."""
    for a in agents:
        try:
            if a.raft_stats().get("raft.state") == "leader":
                return a
        except H.HarnessError:
            pass
    return None


def followers(cluster, leader):
    return [a for a in cluster.running() if a is not leader]


def assert_has_all(trees, expected, what):
    """trees: {agent name: {key: value}}; expected: {key: value}."""
    for name, tree in trees.items():
        missing = [k for k in expected if k not in tree]
        wrong = [k for k in expected if k in tree and tree[k] != expected[k]]
        assert not missing and not wrong, \
            "%s on %s: %d of %d keys missing (%r), %d wrong (%r)" % (
                what, name, len(missing), len(expected), missing[:5],
                len(wrong), [(k, tree[k], expected[k]) for k in wrong[:5]])


class Writer(threading.Thread):
    """PUTs prefix/NNNNNN through one agent in a loop (each on a fresh
    connection with a HANG timeout), recording every outcome; bounded by
    count and time."""

    def __init__(self, agent, prefix, max_n=50000, max_time=120.0 * S):
        super().__init__(daemon=True)
        self.a = agent
        self.prefix = prefix
        self.max_n = max_n
        self.deadline = time.monotonic() + max_time
        self.halt = threading.Event()
        self.results = []   # (key, value, outcome, elapsed, t_start, t_end)
        self.lock = threading.Lock()

    def run(self):
        i = 0
        while not self.halt.is_set() and i < self.max_n and \
                time.monotonic() < self.deadline:
            key = "%s/%06d" % (self.prefix, i)
            val = b"v%06d-" % i + os.urandom(6).hex().encode()
            st, body, _, el = request(self.a, "PUT", "/v1/kv/" + key, val)
            t1 = time.monotonic()
            with self.lock:
                self.results.append((key, val, (st, body), el, t1 - el, t1))
            if (st, body) != ACK:
                self.halt.wait(0.05)     # do not spin on a refused port
            i += 1

    def acked(self, since=0.0):
        with self.lock:
            return [r for r in self.results if r[2] == ACK and r[4] >= since]


def wait_acked(writers, n, since=0.0, timeout=30.0):
    """Every writer has n acknowledged writes started after `since`."""
    deadline = time.monotonic() + timeout * S
    while time.monotonic() < deadline:
        if all(len(w.acked(since)) >= n for w in writers):
            return
        time.sleep(0.05)
    raise AssertionError("acknowledged writes since t=%.2f: %r (wanted %d "
                         "each); last outcomes %r" % (
                             since, [len(w.acked(since)) for w in writers],
                             n, [[str(r[2])[:80] for r in w.results[-3:]]
                                 for w in writers]))


def first_ack_after(writers, t):
    """Seconds from t to the end of the first acknowledged write that
    started at or after t."""
    ends = [r[5] for w in writers for r in w.acked(since=t)]
    return min(ends) - t if ends else None


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def cluster3(module_agent_factory):
    """Three servers shared by the non-destructive tests of this module."""
    return H.Cluster(module_agent_factory, n=3, name="m").start()


# ---------------------------------------------------------------- 1

def _list_peers(a, stale=False):
    r = a.cli(["operator", "raft", "list-peers"] +
              (["-stale"] if stale else []), words=3, timeout=20 * S)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stdout.decode().splitlines() if l.strip()]
    head = lines[0]
    assert head.split()[:6] == ["Node", "ID", "Address", "State", "Voter",
                                "RaftProtocol"], head
    rows = []
    for l in lines[1:]:
        f = l.split()
        rows.append({"Node": f[0], "ID": f[1], "Address": f[2],
                     "State": f[3], "Voter": f[4], "RaftProtocol": f[5],
                     "Commit": f[6], "Trails": " ".join(f[7:])})
    return rows


def test_three_servers_form_one_cluster(cluster3):
    c = cluster3
    addrs = sorted(a.server_addr for a in c.agents)
    leaders = {a.name: a.leader() for a in c.agents}
    assert len(set(leaders.values())) == 1, leaders
    lead_addr = leaders[c.agents[0].name]
    assert lead_addr in addrs, (lead_addr, addrs)
    lead = leader_of(c.agents)
    assert lead is not None and lead.server_addr == lead_addr, \
        "raftd stats name %r the leader, /v1/status/leader says %s" % (
            lead and lead.name, lead_addr)
    for a in c.agents:
        st = a.raft_stats()
        assert st["raft.state"] == ("leader" if a is lead else "follower"), \
            (a.name, st)
        r = a.get("/v1/status/peers")
        assert r.status == 200, r
        assert sorted(r.json()) == addrs, (a.name, r.json(), addrs)

    ids = {}
    for a in c.agents:
        with open(os.path.join(a.data_dir, "node-id")) as f:
            ids[a.name] = f.read().strip()
    conf = lead.raft_configuration()
    assert conf is not None
    servers = conf["Servers"]
    assert len(servers) == 3, conf
    assert sorted(s["Address"] for s in servers) == addrs
    assert {s["Node"]: s["ID"] for s in servers} == ids, (servers, ids)
    assert [s["Address"] for s in servers if s["Leader"]] == [lead_addr]
    assert all(s["Voter"] is True for s in servers), servers
    assert all(s["ProtocolVersion"] == "3" for s in servers), servers
    assert isinstance(conf["Index"], int) and conf["Index"] > 0, conf

    for a in c.agents:
        for stale in (False, True):
            rows = _list_peers(a, stale)
            assert len(rows) == 3, rows
            assert sorted(r["Address"] for r in rows) == addrs, rows
            assert [r["Address"] for r in rows if r["State"] == "leader"] \
                == [lead_addr], rows
            assert all(r["Voter"] == "true" for r in rows), rows
            assert {r["Node"]: r["ID"] for r in rows} == ids, rows


def test_list_peers_through_follower_has_leader_view(cluster3):
    c = cluster3
    lead = c.wait_leader()
    for i in range(3):
        put_retry(lead, "lp/%d" % i, b"x")
    c.wait_digests()
    f = followers(c, lead)[0]
    # The configuration a follower serves must be the leader's, as in
    # Consul (the RPC is forwarded unless ?stale): every server's
    # LastIndex comes from the leader's view of replication.
    conf = f.raft_configuration()
    last = {s["Node"]: s["LastIndex"] for s in conf["Servers"]}
    assert all(v > 0 for v in last.values()), \
        "LastIndex through follower %s: %r" % (f.name, last)
    for r in _list_peers(f):
        if r["State"] != "leader":
            n = int(r["Trails"].split()[0])
            assert n < 1000, "list-peers through %s: %r" % (f.name, r)


# ---------------------------------------------------------------- 2

def test_writes_and_reads_through_every_server(cluster3):
    c = cluster3
    expected = {}
    fwd0 = {a.name: a.raft_stats()["raftd.proposals_forwarded"]
            for a in c.agents}
    inl0 = {a.name: a.raft_stats()["raftd.persist_inline"]
            for a in c.agents}
    app0 = {a.name: (a.raft_stats()["raftd.apply_held"],
                     a.raft_stats()["raftd.apply_wanted"])
            for a in c.agents}
    for a in c.agents:
        for j in range(10):
            k = "rw/%s/%02d" % (a.name, j)
            v = ("%s-%d-" % (a.name, j)).encode() + os.urandom(4).hex() \
                .encode()
            st, body, _, el = request(a, "PUT", "/v1/kv/" + k, v)
            assert (st, body) == ACK, (a.name, k, st, body)
            expected[k] = v
    lead = leader_of(c.agents)
    for a in c.agents:
        if a is not lead:
            st = a.raft_stats()
            assert st["raftd.proposals_forwarded"] > \
                fwd0[a.name], "writes on follower %s not forwarded" % a.name
            # A follower's kvd is handed the leader's writes in batches
            # (held up to 10 ms), its own at once: it answers them.
            assert st["raftd.apply_held"] > app0[a.name][0], (a.name, st)
            assert st["raftd.apply_wanted"] > app0[a.name][1], (a.name, st)
    # One write at a time leaves every persistence thread idle: each
    # server, leader and followers alike, commits its log batches on its
    # loop thread (node.c: inline_commit) and still acknowledges only what
    # is durable (the acknowledged writes are read back below).
    for a in c.agents:
        st = a.raft_stats()
        assert st["raftd.persist_inline"] > inl0[a.name], (a.name, st)
        assert st["raftd.persist_batches"] >= st["raftd.persist_inline"], st

    # Default and ?consistent reads see every acknowledged write at once,
    # on every server (read index through the leader).
    for a in c.agents:
        for mode in ("", "?consistent"):
            for k, v in expected.items():
                r = a.get("/v1/kv/%s%s" % (k, mode))
                assert r.status == 200, (a.name, k, mode, r)
                e = r.json()[0]
                assert H.unb64(e["Value"]) == v, (a.name, k, mode, e)
                assert r.header("X-Consul-KnownLeader") == "true", r
                assert r.index is not None and r.index >= e["ModifyIndex"]
                assert r.header("X-Consul-LastContact") is not None, r
        for mode in ("", "consistent"):
            assert_has_all({a.name: kv_tree(a, "rw/", mode)}, expected,
                           "recurse " + (mode or "default"))
    # ?stale: every server converges to the same state.
    digest = c.wait_digests()
    for a in c.agents:
        assert a.kvd_digest() == digest
        tree = kv_tree(a, "rw/", "stale")
        assert tree == expected, a.name
        r = a.get("/v1/kv/%s?stale" % next(iter(expected)))
        assert r.status == 200
        assert r.header("X-Consul-KnownLeader") == "true", r
        lc = r.header("X-Consul-LastContact")
        assert lc is not None and int(lc) >= 0, r
        if a is lead:
            assert int(lc) == 0, "the leader's LastContact: %r" % lc
    # Indexes agree: the same key carries the same indexes everywhere.
    k = sorted(expected)[0]
    idx = {a.name: (a.kv_entry(k)["CreateIndex"],
                    a.kv_entry(k)["ModifyIndex"]) for a in c.agents}
    assert len(set(idx.values())) == 1, idx


# ---------------------------------------------------------------- 7

def test_python_consul_against_followers(cluster3):
    import consul
    c = cluster3
    lead = c.wait_leader()
    f1, f2 = followers(c, lead)[:2]
    cf = consul.Consul(host="127.0.0.1", port=f1.http_port)
    cl = consul.Consul(host="127.0.0.1", port=lead.http_port)
    c2 = consul.Consul(host="127.0.0.1", port=f2.http_port)
    assert cf.status.leader() == lead.server_addr
    assert sorted(cf.status.peers()) == sorted(a.server_addr
                                               for a in c.agents)
    assert cf.kv.put("pyc/k", "through a follower") is True
    for cons in (None, "consistent"):
        index, d = cf.kv.get("pyc/k", consistency=cons)
        assert d is not None and d["Value"] == b"through a follower", cons
        assert int(index) >= d["ModifyIndex"]
    H.poll("stale read on the other follower",
           lambda: (c2.kv.get("pyc/k", consistency="stale")[1] or {})
           .get("Value") == b"through a follower", 10 * S)
    index, d = cf.kv.get("pyc/k", consistency="stale")
    assert d["Value"] == b"through a follower"
    # a client whose default consistency is stale
    cs = consul.Consul(host="127.0.0.1", port=f1.http_port,
                       consistency="stale")
    assert cs.kv.get("pyc/k")[1]["Value"] == b"through a follower"

    # Blocking get parked on a follower, woken by a write on another
    # server.
    for wait_on, write_via in ((cf, cl), (cf, c2)):
        index, _ = wait_on.kv.get("pyc/block")
        out = {}

        def reader():
            try:
                out["v"] = wait_on.kv.get("pyc/block", index=index,
                                          wait="20s")
            except Exception as ex:     # reported below
                out["ex"] = ex
            out["t"] = time.monotonic()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        time.sleep(0.5)
        assert "t" not in out, "blocking get returned early: %r" % out
        val = "woken-%s" % index
        t_put = time.monotonic()
        assert write_via.kv.put("pyc/block", val) is True
        t_ack = time.monotonic()
        th.join(15)
        assert "t" in out, "blocking get on a follower not woken in 15 s"
        assert "ex" not in out, out
        woke = out["t"] - t_ack
        print("blocking get on %s woken %.3f s after the write's ack "
              "(write took %.3f s)" % (f1.name, woke, t_ack - t_put))
        assert woke < 2.0 * S, "woken %.2f s after the write" % woke
        new_index, d = out["v"]
        assert int(new_index) > int(index)
        assert d["Value"] == val.encode()
    raft = cf.operator.raft_config()
    assert len(raft["Servers"]) == 3


# ---------------------------------------------------------------- bad input

def mp(obj):
    """A minimal msgpack encoder: int >= 0, negative int, bool, None, str,
    bytes, list."""
    if obj is None:
        return b"\xc0"
    if obj is True:
        return b"\xc3"
    if obj is False:
        return b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 128:
            return bytes([obj])
        if obj >= 0:
            return b"\xcf" + struct.pack(">Q", obj)
        return b"\xd3" + struct.pack(">q", obj)
    if isinstance(obj, str):
        b = obj.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else
                b"\xd9" + bytes([len(b)]) if len(b) < 256 else
                b"\xda" + struct.pack(">H", len(b))) + b
    if isinstance(obj, (bytes, bytearray)):
        return b"\xc6" + struct.pack(">I", len(obj)) + bytes(obj)
    if isinstance(obj, list):
        n = len(obj)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(
            ">H", n)
        return head + b"".join(mp(x) for x in obj)
    raise TypeError(obj)


SP_PUSH0 = 0x50     # nng's protocol numbers: NNI_PROTO(5, 0), (5, 1)
SP_PULL0 = 0x51


def sp_header(proto):
    return b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00"


def sp_connect(addr, proto=SP_PUSH0, timeout=5.0):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(sp_header(proto))
    got = b""
    while len(got) < 8:
        chunk = s.recv(8 - len(got))
        if not chunk:
            break
        got += chunk
    return s, got


def closed_by_peer(s, timeout=5.0):
    """True if the peer closes (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_garbage_on_server_rpc_port(cluster3):
    c = cluster3
    lead = c.wait_leader()
    victims = [followers(c, lead)[0], lead]
    pids = {a.name: a.status()["raftd"]["pid"] for a in victims}

    # A hello as a real server sends it, to cut and bend.
    me = str(uuid.uuid4())
    hello = [1, 2, 12345, "dc1", [me, "intruder", "127.0.0.1:1", 0, False],
             []]
    good = mp(hello)
    bad_msgs = [
        b"\xc1",                                    # reserved byte
        os.urandom(64),                             # noise
        good[:len(good) // 2],                      # truncated msgpack
        good + b"\x00",                             # trailing byte
        mp([2] + hello[1:]),                        # wire version 2
        mp([0] + hello[1:]),                        # wire version 0
        mp([1, 42, 12345]),                         # unknown type
        mp([1, 2, 0] + hello[3:]),                  # sender id 0
        mp([1, 2, 12345, "dc1"]),                   # hello too short
        mp([1, 2, 12345, "dc1", [me, "x"], []]),    # bad server entry
        mp([1, 1, 12345, 5, 1, 1, [1, 2, 3], b"", b"", []]),  # raft, 3 of 6
        mp([1, 3, 12345, 1, 7, 0, b"x"]),           # forward, addr not str
        mp([1, 8, 12345, 1, 5, 0, "x"]),           # reply code > 0
        mp("just a string"),
        mp([]),
        b"\xdd\xff\xff\xff\xff",                    # 4G-element array
        b"\x91" * 5000 + b"\xc0",                   # nesting too deep
        b"\xc6\xff\xff\xff\xf0",                    # 4 GiB bin, no data
    ]

    for a in victims:
        before = a.raft_stats()
        # 1. Not SP at all: nng drops the connection at the handshake.
        host, port = a.server_addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(200))
        assert closed_by_peer(s), "garbage connection left open"
        s.close()
        # 2. SP, but a protocol that is not push: refused as well.
        s, got = sp_connect(a.server_addr, proto=0x30)      # req0
        assert got == sp_header(SP_PULL0), \
            "server port's SP header %r (want pull0)" % got
        assert closed_by_peer(s), "req0 peer left connected to pull0"
        s.close()
        # 3. A frame larger than the receive limit: the pipe is closed.
        s, got = sp_connect(a.server_addr)
        s.sendall(struct.pack(">Q", 1 << 40) + b"x" * 100)
        assert closed_by_peer(s), "oversize frame: connection left open"
        s.close()
        mid = a.raft_stats()
        assert mid["wire.bad"] == before["wire.bad"], \
            "connections refused by nng reached raftd's decoder: " \
            "wire.bad %d -> %d" % (before["wire.bad"], mid["wire.bad"])
        # 4. Well-framed push0 messages that are bad msgpack or bad
        #    wire messages: each is counted and dropped.
        s, got = sp_connect(a.server_addr)
        assert got == sp_header(SP_PULL0), got
        for m in bad_msgs:
            s.sendall(struct.pack(">Q", len(m)) + m)
        after = H.poll("wire.bad on %s counting our %d messages" % (
            a.name, len(bad_msgs)),
            lambda: (lambda st: st if st["wire.bad"] - mid["wire.bad"] >=
                     len(bad_msgs) else None)(a.raft_stats()), 10 * S)
        s.close()
        print("%s: wire.in %d -> %d, wire.bad %d -> %d" % (
            a.name, mid["wire.in"], after["wire.in"], mid["wire.bad"],
            after["wire.bad"]))
        assert after["wire.in"] - mid["wire.in"] >= len(bad_msgs)

    # The cluster is unharmed: same raftd processes, same leader, writes
    # through each victim, equal state.
    for a in victims:
        st = a.status()["raftd"]
        assert st["pid"] == pids[a.name] and st["state"] == "running", st
        put_retry(a, "bad/after/" + a.name, b"fine")
    assert c.wait_leader() is lead
    c.wait_digests()
    for a in c.agents:
        assert a.raft_configuration() is not None
        assert len(a.raft_configuration()["Servers"]) == 3


# ---------------------------------------------------------------- 3

@pytest.mark.timeout(200)
def test_failover_under_write_load(cluster_factory):
    c = cluster_factory(3)
    writers = [Writer(a, "fo/%s" % a.name) for a in c.agents]
    for w in writers:
        w.start()
    figures = {}
    try:
        wait_acked(writers, 20)

        # 1. SIGKILL the leader's raftd; init restarts it.
        l1 = c.wait_leader()
        restarts = l1.status()["raftd"]["restarts"]
        old = l1.kill_daemon("raftd")
        H.poll("raftd %d gone" % old, lambda: not H.pid_alive(old), 5 * S,
               interval=0.002)
        t_kill = time.monotonic()
        wait_acked(writers, 1, since=t_kill, timeout=30)
        figures["raftd"] = first_ack_after(writers, t_kill)
        l1.wait_daemon("raftd", old_pid=old, min_restarts=restarts + 1)
        l2 = c.wait_leader()
        wait_acked(writers, 100, since=time.monotonic())

        # 2. The whole (new) leader agent dies; it comes back later on
        #    the same data dir.
        l2 = c.wait_leader()
        rest = [a for a in c.agents if a is not l2]
        wrest = [w for w in writers if w.a is not l2]
        l2.crash()      # returns once every process of it is gone
        t_kill2 = time.monotonic()
        l3 = c.wait_leader(agents=rest, exclude=[l2])
        t_lead3 = time.monotonic() - t_kill2
        wait_acked(wrest, 1, since=t_kill2, timeout=30)
        figures["agent"] = first_ack_after(wrest, t_kill2)
        figures["agent_leader"] = t_lead3
        wait_acked(wrest, 100, since=time.monotonic())
        l2.start(wait="http")
        c.wait_leader()
        wait_acked(writers, 100, since=time.monotonic(), timeout=40)
    finally:
        for w in writers:
            w.halt.set()
        for w in writers:
            w.join(HANG + 5)
    assert not any(w.is_alive() for w in writers), "writer thread stuck"
    print("failover: leader raftd SIGKILL -> first acknowledged write "
          "%.3f s; leader agent SIGKILL -> new leader %.3f s, first "
          "acknowledged write %.3f s (new leader %s)" % (
              figures["raftd"], figures["agent_leader"], figures["agent"],
              l3.name))

    results = [r for w in writers for r in w.results]
    hung = [r for r in results if r[3] >= HANG or
            (r[2][0] == "error" and "timed out" in r[2][1])]
    assert not hung, "requests hung: %r" % [(r[0], r[2], round(r[3], 2))
                                            for r in hung[:10]]
    odd = [r for r in results if r[2] != ACK and not (
        r[2][0] == "error" or 500 <= r[2][0] < 600)]
    assert not odd, "writes answered neither 200 true nor 5xx/connection " \
        "error: %r" % [(r[0], r[2]) for r in odd[:10]]
    failed = [r for r in results if r[2] != ACK]
    print("writes: %d acknowledged, %d failed (%r)" % (
        len(results) - len(failed), len(failed),
        sorted({str(r[2][:2])[:70] for r in failed})[:6]))
    expected = {r[0]: r[1] for r in results if r[2] == ACK}
    assert len(expected) >= 150

    # Every acknowledged write is on every server, with its value.
    c.wait_digests(timeout=30 * S)
    trees = {a.name: kv_tree(a, "fo/", "consistent") for a in c.agents}
    assert_has_all(trees, expected, "acknowledged writes (consistent)")
    trees = {a.name: kv_tree(a, "fo/", "stale") for a in c.agents}
    assert_has_all(trees, expected, "acknowledged writes (stale)")
    assert len({json.dumps(sorted(t.items()), default=repr)
                for t in trees.values()}) == 1, "servers disagree"
    # Failed writes may or may not have been applied, but nothing that
    # was never written appears.
    written = {r[0] for r in results}
    assert set(trees[c.agents[0].name]) <= written


# ---------------------------------------------------------------- 4

def stop_and_wipe(a):
    """Stops a and removes its data dir, keeping only its node id (so it
    comes back as the same server, at the same address); returns the
    id."""
    assert a.stop() == 0
    with open(os.path.join(a.data_dir, "node-id")) as fh:
        node_id = fh.read().strip()
    shutil.rmtree(a.data_dir)
    os.makedirs(a.data_dir, mode=0o700)
    with open(os.path.join(a.data_dir, "node-id"), "w") as fh:
        fh.write(node_id)
    return node_id


@pytest.mark.timeout(150)
def test_wiped_server_catches_up_through_snapshot(cluster_factory):
    c = cluster_factory(3, config={"raft_snapshot_threshold": 64,
                                   "raft_trailing_logs": 16,
                                   "raft_snapshot_interval": "200ms"})
    lead = c.wait_leader()
    f, other = followers(c, lead)[:2]
    expected = {}
    for i in range(40):
        expected["snap/a/%03d" % i] = b"a%d" % i
        put_retry(lead, "snap/a/%03d" % i, b"a%d" % i)
    c.wait_digests()

    t_phase = time.monotonic()
    # Stop f and wipe its data; it keeps its identity (node id, address).
    node_id = stop_and_wipe(f)

    for i in range(300):
        k = "snap/b/%03d" % i
        via = other if i % 10 == 0 else lead
        put_retry(via, k, b"b%d" % i)
        expected[k] = b"b%d" % i
    print("300 writes with %s down: %.2f s" % (f.name,
                                               time.monotonic() - t_phase))
    st = H.poll("a snapshot on the leader",
                lambda: (lambda s: s if s["raft.snapshot_index"] >= 64
                         else None)(lead.raft_stats()), 20 * S)
    print("leader after writes: snapshot_index %d, snapshots_taken %d, "
          "commit %d" % (st["raft.snapshot_index"],
                         st["raft.snapshots_taken"], st["raft.commit"]))
    sent0 = st["raft.snapshots_sent"]

    t0 = time.monotonic()
    f.start(wait="http")
    digest = c.wait_digests(timeout=30 * S)
    fs = H.poll("snapshot installed on %s" % f.name,
                lambda: (lambda s: s if s["raft.snapshots_installed"] >= 1
                         else None)(f.raft_stats()), 10 * S)
    print("%s caught up in %.2f s: snapshots_installed %d, snapshot_index "
          "%d, applied %d" % (f.name, time.monotonic() - t0,
                              fs["raft.snapshots_installed"],
                              fs["raft.snapshot_index"], fs["raft.applied"]))
    # The leader may have sent the snapshot while f was still down: nng
    # queues it and delivers it when f comes back. Either way it sent one.
    assert lead.raft_stats()["raft.snapshots_sent"] >= max(sent0, 1)
    assert f.kvd_digest() == digest
    assert_has_all({f.name: kv_tree(f, "snap/", "stale")}, expected,
                   "keys on the wiped server")
    with open(os.path.join(f.data_dir, "node-id")) as fh:
        assert fh.read().strip() == node_id
    conf = c.wait_voters(3)
    assert f.server_addr in [s["Address"] for s in conf["Servers"]]

    # f is a working voter again: with another server dead, writes need
    # f's vote and its log.
    victim = [a for a in c.agents if a is not f][0]
    victim.crash()
    lead = c.wait_leader()
    put_retry(lead, "snap/after", b"needs f")
    put_retry(f, "snap/after-f", b"through f")
    assert f.kv_entry("snap/after")["Value"] == b"needs f"


SNAP_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z "
                       r"\[INFO\]\s+raftd: snapshot at index (\d+) ")


def snapshot_times(a):
    """When each snapshot a's raftd took was done (s, from its log)."""
    out = []
    for line in a.log_text(all_starts=True).splitlines():
        m = SNAP_LINE.match(line)
        if m:
            t = datetime.datetime.strptime(m.group(1)[:23],
                                           "%Y-%m-%dT%H:%M:%S.%f")
            out.append(t.timestamp())
    return out


@pytest.mark.timeout(120)
def test_snapshots_are_staggered(cluster_factory):
    """Past the threshold a server takes a snapshot once per one to two
    raft_snapshot_interval, drawn at random each time (hashicorp/raft
    checks at a random time in [interval, 2 x interval)), so servers
    started together do not write theirs in lockstep, and never sooner
    than the interval."""
    iv = 1.0
    c = cluster_factory(3, config={"raft_snapshot_threshold": 32,
                                   "raft_trailing_logs": 16,
                                   "raft_snapshot_interval": "1s"})
    lead = c.wait_leader()
    stop = threading.Event()
    errors = []

    def writer(n):
        i = 0
        while not stop.is_set():
            try:
                put_retry(lead, "stagger/%d/%03d" % (n, i % 200), b"v%d" % i)
            except AssertionError as ex:
                errors.append(ex)
                return
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    time.sleep(14)
    stop.set()
    for t in threads:
        t.join(HANG)
    assert not errors, errors[0]

    gaps = []
    for a in c.agents:
        ts = snapshot_times(a)
        assert len(ts) >= 4, "%s took %d snapshots in 14 s of writes" % (
            a.name, len(ts))
        g = [b - x for x, b in zip(ts, ts[1:])]
        print("%s: %d snapshots, gaps %s s" % (
            a.name, len(ts), " ".join("%.2f" % x for x in g)))
        # Never sooner than the interval (the times are of the ends;
        # one snapshot may take up to 0.2 s longer than the one before).
        assert min(g) > iv - 0.2 * S, (a.name, g)
        gaps += g
    # Drawn from [1, 2) s, about 70% of the gaps are over 1.3 s and about
    # 70% under 1.7 s; at a fixed interval every gap would be 1 s and a
    # tick (20 ms), give or take how long the snapshots take.
    over = sum(1 for x in gaps if x > 1.3 * iv)
    under = sum(1 for x in gaps if x < 1.7 * iv)
    assert over >= len(gaps) // 4, ("gaps not spread", gaps)
    assert under >= len(gaps) // 4, ("gaps not spread", gaps)


@pytest.mark.timeout(240)
def test_damaged_snapshots_are_refused_and_replaced(cluster_factory):
    """A snapshot damaged on its way (a test build's leader flips a byte
    in each it sends) is refused by the server catching up, which stays
    usable and installs the next whole one; a snapshot file damaged on
    the disk is found when raftd starts and replaced by a new one from
    kvd's state instead of being shipped."""
    c = cluster_factory(3, config={"raft_snapshot_threshold": 64,
                                   "raft_trailing_logs": 16,
                                   "raft_snapshot_interval": "200ms"})
    lead = c.wait_leader()
    f = followers(c, lead)[0]
    for i in range(100):
        put_retry(lead, "dmg/a/%03d" % i, b"a%d" % i)
    H.poll("a snapshot on the leader",
           lambda: lead.raft_stats()["raft.snapshot_index"] >= 64, 20 * S)
    c.wait_digests()

    r = lead.ctl(["raftd", "fault", "damage-snapshots"])
    if r.returncode != 0 and b"not built in" in r.stdout + r.stderr:
        pytest.skip("a build without test hooks")
    assert r.returncode == 0, (r.stdout, r.stderr)
    stop_and_wipe(f)
    f.start(wait="http")
    # The leader learns that f lost its log from the next append.
    for i in range(20):
        put_retry(lead, "dmg/b/%03d" % i, b"b%d" % i)
    st = H.poll("damaged snapshots refused by %s" % f.name,
                lambda: (lambda s: s if s["raftd.snapshots_refused"] >= 2
                         else None)(f.raft_stats()), 30 * S)
    assert st["raft.snapshots_installed"] == 0, st
    assert "a snapshot from the leader (index" in f.log_text()
    assert "is damaged: checksum mismatch" in f.log_text()
    # Refused whole: kvd never saw it, and the server answers.
    assert f.status()["kvd"]["restarts"] == 0, f.status()
    assert f.get("/v1/kv/dmg/a/000?stale").status == 404

    assert lead.ctl(["raftd", "fault", "clear"]).returncode == 0
    c.wait_digests(timeout=30 * S)
    assert f.raft_stats()["raft.snapshots_installed"] >= 1
    assert f.kv_entry("dmg/a/099")["Value"] == b"a99"

    # The file on the leader's disk: damaged, then raftd restarted.
    lead = c.wait_leader()
    idx = lead.raft_stats()["raft.snapshot_index"]
    path = os.path.join(lead.data_dir, "raft", "snapshots",
                        "%020d.snap" % idx)
    with open(path, "r+b") as fh:
        fh.seek(os.path.getsize(path) // 2)
        b = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([b[0] ^ 0x20]))
    raftd = lead.status()["raftd"]["pid"]
    os.kill(raftd, signal.SIGKILL)
    lead.wait_daemon("raftd", old_pid=raftd)
    H.poll("the damaged snapshot replaced",
           lambda: "replaces the damaged one" in lead.log_text(), 30 * S)
    text = lead.log_text()
    assert "the snapshot file (index %d) is damaged" % idx in text, text[-3000:]
    st = lead.raft_stats()
    assert st["raft.snapshot_index"] > idx, st
    assert st["raftd.snapshots_refused"] >= 1, st
    # Every server holds the same state again, and takes writes.
    c.wait_digests(timeout=30 * S)
    put_retry(c.wait_leader(), "dmg/after", b"ok")
    c.wait_digests(timeout=30 * S)
    assert f.kv_entry("dmg/after")["Value"] == b"ok"


# ---------------------------------------------------------------- 5

@pytest.mark.timeout(200)
def test_five_servers_survive_two_failures(cluster_factory):
    c = cluster_factory(5)
    expected = {}

    def write_round(tag, agents):
        """5 writes through each agent, the agents in parallel."""
        errors = []

        def run(a):
            try:
                for j in range(5):
                    k = "five/%s/%s/%d" % (tag, a.name, j)
                    put_retry(a, k, k.encode())
                    expected[k] = k.encode()
            except AssertionError as ex:
                errors.append(ex)
        ths = [threading.Thread(target=run, args=(a,), daemon=True)
               for a in agents]
        for th in ths:
            th.start()
        for th in ths:
            th.join(60 * S)
        assert not any(th.is_alive() for th in ths), "writer stuck"
        assert not errors, errors

    write_round("all", c.agents)
    lead = c.wait_leader()
    f1 = followers(c, lead)[0]
    f1.crash()
    write_round("minus1", c.running())
    lead = c.wait_leader()
    t_kill = time.monotonic()
    lead.crash()
    survivors = c.running()
    assert len(survivors) == 3
    new = c.wait_leader(agents=survivors, exclude=[lead, f1])
    print("5 servers, 2 down: new leader %s %.3f s after the leader died"
          % (new.name, time.monotonic() - t_kill))
    write_round("minus2", survivors)
    for a in survivors:
        assert_has_all({a.name: kv_tree(a, "five/", "consistent")},
                       expected, "after two failures")
    c.wait_digests(agents=survivors)

    # Bring both back: they catch up and the five agree.
    f1.start(wait="http")
    lead.start(wait="http")
    c.wait_leader()
    c.wait_voters(5)
    write_round("back", c.agents)
    digest = c.wait_digests(timeout=30 * S)
    for a in c.agents:
        assert a.kvd_digest() == digest
        assert_has_all({a.name: kv_tree(a, "five/", "stale")}, expected,
                       "after the two came back")


# ---------------------------------------------------------------- 6

@pytest.mark.timeout(150)
def test_no_quorum_fails_fast_and_recovers(cluster_factory):
    c = cluster_factory(3)
    lead = c.wait_leader()
    put_retry(lead, "nq/before", b"kept")
    c.wait_digests()
    # The leader is left alone: it must notice it lost its quorum.
    a1, a2 = followers(c, lead)
    a1.stop()
    a2.crash()
    surv = lead

    # A write right away: it cannot commit; it must fail, not hang.
    st, body, _, el = request(surv, "PUT", "/v1/kv/nq/lost", b"x")
    print("write on the lone leader right after the others died: %r %r "
          "in %.2f s" % (st, body[:60], el))
    assert el < HANG and (st == "error" or st >= 500), (st, body, el)
    H.poll("the lone server knows it has no leader",
           lambda: surv.leader() == "", 15 * S)

    # Writes and non-stale reads, at once: each must fail with "No
    # cluster leader" well before HANG.
    reqs = (("PUT", "/v1/kv/nq/w", b"x"),
            ("GET", "/v1/kv/nq/before", None),
            ("GET", "/v1/kv/nq/before?consistent", None),
            ("DELETE", "/v1/kv/nq/before", None),
            ("GET", "/v1/kv/nq/?recurse", None),
            ("GET", "/v1/operator/raft/configuration", None))
    outs = [None] * len(reqs)

    def one(i):
        outs[i] = request(surv, *reqs[i])
    ths = [threading.Thread(target=one, args=(i,), daemon=True)
           for i in range(len(reqs))]
    for th in ths:
        th.start()
    for th in ths:
        th.join(HANG + 5)
    for (method, path, _), out in zip(reqs, outs):
        assert out is not None, "%s %s never returned" % (method, path)
        st, rb, hd, el = out
        print("no quorum: %s %s -> %r %r in %.2f s" % (method, path, st,
                                                       rb[:60], el))
        assert el < HANG, "%s %s took %.1f s" % (method, path, el)
        assert st == 500, (method, path, st, rb)
        assert b"No cluster leader" in rb, (method, path, rb)
    r = surv.get("/v1/kv/nq/before?stale")
    assert r.status == 200, r
    assert H.unb64(r.json()[0]["Value"]) == b"kept"
    assert r.header("X-Consul-KnownLeader") == "false", r
    assert r.header("X-Consul-LastContact") is not None, r
    assert surv.raft_configuration(stale=True) is not None
    assert surv.leader() == ""

    # A consistent blocking query waits for a read index that no leader
    # gives; its client hangs up: kvd lets it go then, not when raftd
    # gives up on the read index.
    st0 = surv.ctl_stats("kvd")
    sk = socket.create_connection(("127.0.0.1", surv.http_port))
    sk.sendall(("GET /v1/kv/nq/before?consistent&index=%d&wait=5m "
                "HTTP/1.1\r\nHost: x\r\n\r\n" % r.index).encode())
    H.poll("the query waits for its read index",
           lambda: surv.ctl_stats("kvd")["raft.read_waits"] >
           st0["raft.read_waits"], 4 * S)
    t0 = time.monotonic()
    sk.close()
    H.poll("the hung-up query let go",
           lambda: surv.ctl_stats("kvd")["kv.blocking.canceled"] ==
           st0["kv.blocking.canceled"] + 1, 10 * S)
    print("a consistent blocking query let go %.2f s after its client "
          "hung up" % (time.monotonic() - t0))

    # The others come back: a leader again, writes succeed, nothing lost.
    a1.start(wait="http")
    a2.start(wait="http")
    c.wait_leader()
    for a in c.agents:
        put_retry(a, "nq/after/" + a.name, b"ok")
    c.wait_digests()
    for a in c.agents:
        assert a.kv_entry("nq/before")["Value"] == b"kept"
        assert len(kv_tree(a, "nq/after/", "consistent")) == 3


# ---------------------------------------------------------------- 8

@pytest.mark.timeout(120)
def test_fourth_server_joins_and_leadership_transfers(cluster_factory):
    c = cluster_factory(3)
    lead = c.wait_leader()
    for i in range(20):
        put_retry(lead, "mem/%02d" % i, b"m%d" % i)

    # A fourth server joins later: added as a non-voter, then promoted.
    d = c.new_agent(bootstrap_expect=None)
    assert "-bootstrap-expect" not in d.argv() and \
        "-bootstrap" not in d.argv(), d.argv()
    t0 = time.monotonic()
    d.start(wait="http")
    conf = c.wait_voters(4)
    print("fourth server a voter %.2f s after its start"
          % (time.monotonic() - t0))
    assert d.server_addr in [s["Address"] for s in conf["Servers"]]
    assert c.wait_leader() is not d
    c.wait_digests()
    assert d.kv_entry("mem/07")["Value"] == b"m7"
    put_retry(d, "mem/through-d", b"d")
    assert sorted(d.get("/v1/status/peers").json()) == sorted(
        a.server_addr for a in c.agents)
    d_id = [s["ID"] for s in conf["Servers"]
            if s["Address"] == d.server_addr][0]

    # transfer-leader to the new server by id (HTTP), then to anyone
    # (CLI).
    lead = c.wait_leader()
    r = lead.http("POST", "/v1/operator/raft/transfer-leader?id=" + d_id,
                  timeout=HANG)
    assert r.status == 200 and r.json() == {"Success": True}, r
    H.poll("leadership moved to %s" % d.name,
           lambda: c.wait_leader(timeout=5 * S) is d, 15 * S)
    r = d.cli(["operator", "raft", "transfer-leader"], words=3)
    assert r.returncode == 0, (r.stdout, r.stderr)
    H.poll("leadership moved off %s" % d.name,
           lambda: c.wait_leader(timeout=5 * S) is not d, 15 * S)
    r = d.http("POST", "/v1/operator/raft/transfer-leader?id=no-such-id",
               timeout=HANG)
    assert r.status >= 400, r
    for a in c.agents:
        put_retry(a, "mem/after-transfer/" + a.name, b"t")
    c.wait_digests()


def _remove_stopped_follower(c):
    lead = c.wait_leader()
    x = followers(c, lead)[0]
    via = followers(c, lead)[1]
    x.crash()
    t0 = time.monotonic()
    r = via.cli(["operator", "raft", "remove-peer",
                 "-address=" + x.server_addr], words=3, timeout=HANG + 5)
    took = time.monotonic() - t0
    print("remove-peer through follower %s: exit %d in %.2f s, %r %r" % (
        via.name, r.returncode, took, r.stdout, r.stderr))
    return x, via, r, took


@pytest.mark.timeout(120)
def test_remove_peer_of_stopped_server_takes_effect(cluster_factory):
    c = cluster_factory(3)
    x, via, r, took = _remove_stopped_follower(c)
    assert took < HANG, "remove-peer hung %.1f s" % took
    conf = c.wait_voters(2)
    assert x.server_addr not in [s["Address"] for s in conf["Servers"]]
    rest = c.running()
    for a in rest:
        put_retry(a, "rm/after/" + a.name, b"r")
        assert sorted(a.get("/v1/status/peers").json()) == sorted(
            b.server_addr for b in rest)
    c.wait_digests()
    # An address that is not (any more) in the configuration: an error,
    # quickly.
    st, body, _, el = request(via, "DELETE", "/v1/operator/raft/peer"
                              "?address=" + x.server_addr)
    assert el < HANG and st != 200, (st, body, el)


@pytest.mark.timeout(120)
def test_remove_peer_answers_success(cluster_factory):
    c = cluster_factory(3)
    x, via, r, took = _remove_stopped_follower(c)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.decode().startswith("Removed peer with address") and \
        x.server_addr.encode() in r.stdout, r.stdout
    assert took < 3.0 * S, "remove-peer took %.1f s" % took


@pytest.mark.timeout(120)
def test_leave_on_follower(cluster_factory):
    c = cluster_factory(3)
    lead = c.wait_leader()
    put_retry(lead, "leave/before", b"x")
    y = followers(c, lead)[0]
    pid = y.pid
    r = y.cli(["leave"], words=1, timeout=HANG + 5)
    print("lictor leave on %s: exit %d, %r %r" % (y.name, r.returncode,
                                                   r.stdout, r.stderr))
    # What must hold whatever the answer: y is out of the configuration.
    rest = [a for a in c.agents if a is not y]
    conf = c.wait_voters(2, agents=rest)
    assert sorted(s["Address"] for s in conf["Servers"]) == sorted(
        a.server_addr for a in rest)
    for a in rest:
        put_retry(a, "leave/after/" + a.name, b"l")
    c.wait_digests(agents=rest)
    # The leave succeeded, and the agent exits by itself.
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert b"Graceful leave complete" in r.stdout, r.stdout
    code = y.wait_exit(15 * S)
    assert code is not None, "agent %d still running after leave" % pid
    assert code == 0, "agent exit code after leave: %r" % code


# ---------------------------------------------------------------- review

@pytest.mark.timeout(120)
def test_consistent_reads_through_a_joining_server(cluster_factory):
    """A follower's ?consistent read is forwarded to the leader; with one
    voter the leader settles the read inside the very call that starts it
    (a quorum of one). raftd once freed the request there and then wrote
    to it. A single server, a second one joining under writes, and reads
    through the joiner the whole time: nothing may crash, the leader keeps
    its raftd, and the reads get answers."""
    c = cluster_factory(1)
    lead = c.wait_leader()
    raftd_pid = lead.status()["raftd"]["pid"]
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set() and i < 5000:
            try:
                lead.put("/v1/kv/join/%d" % (i % 50), body=b"w%d" % i,
                         timeout=5)
            except OSError:
                pass
            i += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        d = c.new_agent(bootstrap_expect=None)
        d.start(wait="http")
        answered = 0
        seen = []
        deadline = time.monotonic() + 4 * S
        while time.monotonic() < deadline:
            try:
                r = d.get("/v1/kv/join/1?consistent", timeout=HANG)
            except OSError:
                continue
            if r.status in (200, 404):
                answered += 1
            else:
                seen.append((r.status, r.body[:80]))
    finally:
        stop.set()
        t.join(10)
    assert answered > 0, ("no ?consistent read through the joiner "
                          "answered: %r" % seen[:5])
    assert lead.running(), lead.log_tail()
    assert lead.status()["raftd"]["pid"] == raftd_pid, \
        "the leader's raftd restarted:\n" + lead.log_tail()
    assert not lead.crash_lines(), lead.crash_lines()


@pytest.mark.timeout(150)
def test_snapshot_larger_than_one_message_piece(cluster_factory):
    """A snapshot over 4 MiB crosses the wire in pieces (RW_SNAP_CHUNK)
    and is put back together on the follower."""
    c = cluster_factory(3, config={"raft_snapshot_threshold": 64,
                                   "raft_trailing_logs": 16,
                                   "raft_snapshot_interval": "200ms"})
    lead = c.wait_leader()
    f = followers(c, lead)[0]
    stop_and_wipe(f)
    big = {}
    for i in range(14):          # 14 x 500 KiB: a 7 MiB state
        v = (b"%02d" % i) * (250 * 1024)
        big["big/%02d" % i] = v
        put_retry(lead, "big/%02d" % i, v)
    for i in range(120):         # past the threshold, several times
        put_retry(lead, "small/%03d" % i, b"s")
    H.poll("a snapshot on the leader",
           lambda: lead.raft_stats()["raft.snapshot_index"] >= 128, 20 * S)
    f.start(wait="http")
    digest = c.wait_digests(timeout=60 * S)
    st = H.poll("snapshot installed on %s" % f.name,
                lambda: (lambda s: s if s["raft.snapshots_installed"] >= 1
                         else None)(f.raft_stats()), 20 * S)
    assert f.kvd_digest() == digest
    for k in ("big/00", "big/13"):
        assert f.kv_entry(k)["Value"] == big[k]
    assert st["raftd.snapshot_chunks_received"] >= 2, st
    print("a %d-byte-plus state reached %s through %d installed "
          "snapshot(s)" % (sum(map(len, big.values())), f.name,
                           st["raft.snapshots_installed"]))
