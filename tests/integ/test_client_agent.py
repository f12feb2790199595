"""A client agent (no -server) forwards KV and catalog requests to a server.

Three servers form their cluster through gossip (H.Cluster); a client agent
joins the gossip pool through a server's serf address. The client holds no
state: every /v1/kv and /v1/catalog request it gets goes to one server it
picked among the alive servers gossip shows, and the server's answer comes
back as it was (indexes, X-Consul-KnownLeader, X-Consul-LastContact).
Checked here: KV put/get/delete, CAS and a blocking query through the
client (plain HTTP and Debian's python3-consul), catalog register and
/v1/catalog/nodes, ?stale and ?consistent; a write to a server that stops
answering is answered 500 "rpc error making call" and not sent to another
server (it may have run); a SIGKILLed server's clients move to another
server within a bounded time, a parked blocking query included; and a
client with no server known answers 500 "No known Consul servers" at once.
"""

import json
import os
import signal
import socket
import struct
import threading
import time

import consul
import pytest

import lictor_harness as H
# The server port's framing and a minimal msgpack encoder.
from test_raft_cluster import SP_PULL0, SP_PUSH0, mp, sp_connect, sp_header

S = H.SLOW
# The client's hop: the server's kvd gets 7 s (Consul's RPC hold timeout),
# raftd answers within a second more (kvd/kvd_client.c,
# raftd/kv_forward.c).
HOP_TIMEOUT = 8.0


def fwd_stats(a):
    return a.raft_stats()


def current_server(client, cluster):
    """The server the client forwards to now (raftd's kvfwd.server)."""
    addr = fwd_stats(client).get("kvfwd.server")
    if not addr or addr == "-":
        return None
    return cluster.by_addr(addr)


def wait_forwarding(client, timeout=30.0 * S):
    """Bounded poll until a read through the client reaches a server."""
    def ok():
        r = client.get("/v1/kv/__client_probe__", timeout=15)
        return r if r.status in (200, 404) else None
    return H.poll("a read through the client answered by a server", ok,
                  timeout, interval=0.2)


def stale_entry(server, key):
    r = server.get("/v1/kv/%s?stale" % key)
    if r.status == 404:
        return None
    assert r.status == 200, r
    e = r.json()[0]
    e["Value"] = H.unb64(e["Value"])
    return e


def wait_everywhere(servers, key, value, timeout=10.0 * S):
    def ok():
        for s in servers:
            r = s.get("/v1/kv/%s?stale" % key)
            if r.status not in (200, 404):
                return None     # e.g. its kvd restarting: ask again
            got = H.unb64(r.json()[0]["Value"]) if r.status == 200 \
                else None
            if got != value:
                return None
        return True
    H.poll("%s = %r on every server" % (key, value), ok, timeout)


@pytest.fixture(scope="module")
def pool(module_agent_factory):
    c = H.Cluster(module_agent_factory, n=3, name="ca")
    c.start()
    client = module_agent_factory(
        subdir="cac", name="cac", client=True,
        extra_args=["-retry-join", c.agents[1].serf_addr])
    client.start(wait="http")
    wait_forwarding(client)
    return {"cluster": c, "servers": c.agents, "client": client}


def test_kv_put_get_delete_through_client(pool):
    cl, servers = pool["client"], pool["servers"]
    r = cl.put("/v1/kv/cl/a?flags=42", body=b"one")
    assert r.status == 200 and r.body.strip() == b"true", r
    wait_everywhere(servers, "cl/a", b"one")
    r = cl.get("/v1/kv/cl/a")
    assert r.status == 200, r
    e = r.json()[0]
    assert H.unb64(e["Value"]) == b"one" and e["Flags"] == 42, e
    # The headers are a server's: the index is the key's, a leader known.
    assert r.index == e["ModifyIndex"], r
    assert r.header("X-Consul-KnownLeader") == "true", r
    assert r.header("X-Consul-LastContact") is not None, r
    # The client holds nothing: its kvd has no store, the data lives on
    # the servers (the same entry, the same indexes).
    se = stale_entry(servers[0], "cl/a")
    assert se["ModifyIndex"] == e["ModifyIndex"]
    assert se["CreateIndex"] == e["CreateIndex"]
    assert not os.path.exists(os.path.join(cl.data_dir, "kv"))
    # CAS as Consul: the first create wins, the second is refused.
    assert cl.put("/v1/kv/cl/cas?cas=0", body=b"x").body.strip() == b"true"
    assert cl.put("/v1/kv/cl/cas?cas=0", body=b"y").body.strip() == \
        b"false"
    # Recurse and keys through the client.
    cl.kv_put("cl/t/1", b"1")
    cl.kv_put("cl/t/2", b"2")
    r = cl.get("/v1/kv/cl/t/?keys")
    assert r.status == 200 and r.json() == ["cl/t/1", "cl/t/2"], r
    r = cl.get("/v1/kv/cl/t?recurse")
    assert [H.unb64(x["Value"]) for x in r.json()] == [b"1", b"2"], r
    # Delete.
    r = cl.delete("/v1/kv/cl/a")
    assert r.status == 200 and r.body.strip() == b"true", r
    assert cl.get("/v1/kv/cl/a").status == 404
    wait_everywhere(servers, "cl/a", None)
    # A server's refusal comes back as it was (Consul's 400 text).
    r = cl.put("/v1/kv/cl/bad?cas=notanumber", body=b"z")
    s = servers[0].put("/v1/kv/cl/bad?cas=notanumber", body=b"z")
    assert (r.status, r.body) == (s.status, s.body), (r, s)
    st = cl.ctl_stats("kvd")
    assert st["kvd.mode"] == "client", st
    assert st["kvfwd.forwarded"] > 0 and st["kv.writes"] > 0, st


def test_blocking_query_through_client(pool):
    cl, servers = pool["client"], pool["servers"]
    cl.kv_put("cl/blk", b"v1")
    r = cl.get("/v1/kv/cl/blk")
    idx = r.index
    out = {}

    def block():
        out["r"] = cl.get("/v1/kv/cl/blk?index=%d&wait=20s" % idx,
                          timeout=40)
        out["t"] = time.monotonic()
    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.5)
    assert t.is_alive(), out.get("r")     # parked (on the server)
    t0 = time.monotonic()
    servers[2].kv_put("cl/blk", b"v2")      # a write anywhere wakes it
    t.join(30)
    assert not t.is_alive()
    r = out["r"]
    assert r.status == 200, r
    assert r.index > idx, r
    assert H.unb64(r.json()[0]["Value"]) == b"v2"
    assert out["t"] - t0 < 3.0 * S, out["t"] - t0
    # Nothing changes: the wait runs out and the same index comes back.
    t0 = time.monotonic()
    r = cl.get("/v1/kv/cl/blk?index=%d&wait=1s" % r.index, timeout=20)
    el = time.monotonic() - t0
    assert r.status == 200 and el >= 0.9 and el < 4.0 * S, (r, el)
    # A client that hangs up: the client agent's kvd lets its forwarded
    # query go at once. The server's copy waits out its own wait (a few
    # seconds here, so that it is gone before the next test), as
    # Consul's does.
    wait_s = 5.0 * S
    st0 = cl.ctl_stats("kvd")
    t_sent = time.monotonic()
    s = socket.create_connection(("127.0.0.1", cl.http_port))
    s.sendall(("GET /v1/kv/cl/blk?index=%d&wait=%dms HTTP/1.1\r\n"
               "Host: x\r\n\r\n" % (r.index, wait_s * 1000)).encode())
    while cl.ctl_stats("kvd")["ipc.inflight"] <= st0["ipc.inflight"]:
        assert time.monotonic() - t_sent < wait_s / 2, \
            "the query never reached kvd"
        time.sleep(0.05)
    s.close()
    while True:
        st = cl.ctl_stats("kvd")
        if st["kvfwd.canceled"] == st0["kvfwd.canceled"] + 1 and \
                st["ipc.inflight"] == st0["ipc.inflight"]:
            break
        # (the counter moves only for a cancel: an answer at the end of
        # the wait would leave it)
        assert time.monotonic() - t_sent < wait_s, (st0, st)
        time.sleep(0.05)
    time.sleep(max(0.0, t_sent + wait_s * 17 / 16 + 0.3 -
                   time.monotonic()))

def test_python_consul_through_client(pool):
    c = consul.Consul(host="127.0.0.1", port=pool["client"].http_port)
    assert c.kv.put("cl/pc", "value-1") is True
    index, data = c.kv.get("cl/pc")
    assert data["Value"] == b"value-1"
    assert int(index) == data["ModifyIndex"]
    assert c.kv.put("cl/pc", "value-2", cas=data["ModifyIndex"]) is True
    assert c.kv.put("cl/pc", "value-3", cas=data["ModifyIndex"]) is False
    index, data = c.kv.get("cl/pc")
    out = {}

    def block():
        out["got"] = c.kv.get("cl/pc", index=index, wait="20s")
    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.3)
    assert c.kv.put("cl/pc", "value-4") is True
    t.join(30)
    assert not t.is_alive()
    assert out["got"][1]["Value"] == b"value-4"
    assert int(out["got"][0]) > int(index)
    assert c.kv.delete("cl/pc") is True
    assert c.kv.get("cl/pc")[1] is None


def test_catalog_through_client(pool):
    cl, servers = pool["client"], pool["servers"]
    body = json.dumps({"Node": "ext-1", "Address": "10.1.2.3",
                       "NodeMeta": {"rack": "r1"}})
    r = cl.put("/v1/catalog/register", body=body)
    assert r.status == 200 and r.body.strip() == b"true", r
    r = cl.get("/v1/catalog/nodes")
    assert r.status == 200, r
    nodes = {n["Node"]: n for n in r.json()}
    assert nodes["ext-1"]["Address"] == "10.1.2.3", nodes
    assert nodes["ext-1"]["Meta"] == {"rack": "r1"}
    assert r.header("X-Consul-KnownLeader") == "true"
    # The same list a server gives, the same index.
    s = servers[0].get("/v1/catalog/nodes")
    assert r.index <= s.index
    assert {n["Node"] for n in s.json()} >= set(nodes)
    # The leader's reconcile registers the client itself (serfHealth).
    H.poll("the client agent is a catalog node",
           lambda: "cac" in {n["Node"] for n in
                             cl.get("/v1/catalog/nodes").json()}, 30.0 * S)
    r = cl.get("/v1/catalog/node/ext-1")
    assert r.status == 200 and r.json()["Node"]["Address"] == "10.1.2.3"
    # A refusal of the server's comes through as Consul's text.
    r = cl.put("/v1/catalog/register", body=json.dumps({"Address": "x"}))
    assert r.status == 500 and b"Must provide node" in r.body, r
    r = cl.put("/v1/catalog/deregister", body=json.dumps({"Node": "ext-1"}))
    assert r.status == 200 and r.body.strip() == b"true", r
    assert "ext-1" not in {n["Node"] for n in
                           cl.get("/v1/catalog/nodes").json()}


def test_consistency_modes_through_client(pool):
    cl, servers = pool["client"], pool["servers"]
    cl.kv_put("cl/mode", b"m")
    for q, eff in (("?stale", "stale"), ("?consistent", "consistent"),
                   ("", "leader")):
        r = cl.get("/v1/kv/cl/mode" + q)
        assert r.status == 200, (q, r)
        assert H.unb64(r.json()[0]["Value"]) == b"m"
        assert r.header("X-Consul-Effective-Consistency") == eff, (q, r)
        assert r.header("X-Consul-KnownLeader") == "true", (q, r)
    r = cl.get("/v1/catalog/nodes?stale")
    assert r.status == 200 and r.json(), r
    r = cl.get("/v1/catalog/nodes?consistent")
    assert r.status == 200 and r.json(), r


def sp_pull_listener():
    """A loopback TCP listener that speaks nng's pull0 (SP over TCP): what a
    client raftd's server port is to a server answering it."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(10 * S)
    return ls


def sp_recv_frame(ls):
    """Accepts the server's push connection and reads one message."""
    conn, _ = ls.accept()
    conn.settimeout(10 * S)
    conn.sendall(sp_header(SP_PULL0))

    def read(n):
        got = b""
        while len(got) < n:
            chunk = conn.recv(n - len(got))
            if not chunk:
                raise AssertionError("connection closed after %r" % got)
            got += chunk
        return got
    assert read(8) == sp_header(SP_PUSH0)
    n = struct.unpack(">Q", read(8))[0]
    body = read(n)
    conn.close()
    return body


MSG_KV_READ, MSG_KV_WRITE, MSG_KV_SNAPSHOT = 0x0301, 0x0302, 0x0304
RW_KV_FWD, RW_KV_FWD_REPLY = 10, 11


def test_bad_forwards_counted_and_kept_from_kvd(pool):
    """Forwarded requests come from the network: a server's raftd checks
    each payload as its kvd will decode it. Malformed ones are counted in
    wire.bad and dropped (kvd, which exits on garbage from a sibling,
    never sees them); a well-formed one from the same connection is
    served and answered at its reply address."""
    cl, c = pool["client"], pool["cluster"]
    cl.kv_put("cl/raw", b"raw-value")
    srv = c.agents[0]
    wait_everywhere([srv], "cl/raw", b"raw-value")
    kvd_pid = srv.status()["kvd"]["pid"]
    ls = sp_pull_listener()
    reply_addr = "127.0.0.1:%d" % ls.getsockname()[1]
    read = mp([1, "cl/raw", None, 0, 0, 1])          # GET, ?stale

    def fwd(mtype, payload, timeout=5000, addr=reply_addr, req=77):
        return mp([1, RW_KV_FWD, 4242, req, addr, mtype, payload, timeout])
    bad = [
        fwd(MSG_KV_READ, mp([9, "cl/raw", None, 0, 0, 1])),  # bad mode
        fwd(MSG_KV_READ, mp([1, "cl/raw", None, 0, 0])),     # 5 fields
        fwd(MSG_KV_READ, read + b"\xc0"),                    # trailing
        fwd(MSG_KV_READ, b"\xc1"),                           # not msgpack
        fwd(MSG_KV_WRITE, read),                             # not a write
        fwd(MSG_KV_SNAPSHOT, mp(["/tmp/x"])),                # not forwarded
        fwd(MSG_KV_READ, read, timeout=0),
        fwd(MSG_KV_READ, read, addr=""),
        mp([1, RW_KV_FWD, 4242, 77, reply_addr, MSG_KV_READ, read]),
        mp([1, RW_KV_FWD_REPLY, 4242, 77, 0, "", MSG_KV_READ, read]),
    ]
    before = fwd_stats(srv)
    s, got = sp_connect(srv.server_addr)
    assert got == sp_header(SP_PULL0), got
    for m in bad:
        s.sendall(struct.pack(">Q", len(m)) + m)
    good = fwd(MSG_KV_READ, read, req=0x5eed)
    s.sendall(struct.pack(">Q", len(good)) + good)
    body = sp_recv_frame(ls)
    s.close()
    ls.close()
    # [version 1, RW_KV_FWD_REPLY, server id, req id, code 0, "", type...]
    assert body[:3] == b"\x98\x01\x0b", body[:16]
    # ... req id 0x5eed, code 0, "", kv.read's reply type 0x8301
    assert b"\xcd\x5e\xed\x00\xa0\xcd\x83\x01" in body, body[:40]
    assert b"raw-value" in body and b"cl/raw" in body, body
    after = H.poll("wire.bad on %s counting our %d messages" % (
        srv.name, len(bad)),
        lambda: (lambda st: st if st["wire.bad"] - before["wire.bad"] >=
                 len(bad) else None)(fwd_stats(srv)), 10 * S)
    assert after["wire.bad"] - before["wire.bad"] == len(bad), after
    assert after["kvfwd.served"] - before["kvfwd.served"] == 1, after
    st = srv.status()["kvd"]
    assert st["pid"] == kvd_pid and st["restarts"] == 0, st


def agent_pids(a):
    pids = {a.pid: None}
    pids.update(H.descendants_of(a.pid))
    return pids


def signal_agent(pids, sig):
    for p, start in pids.items():
        if H.pid_alive(p, start):
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass


def test_server_without_kvd_sends_the_client_elsewhere(pool):
    """The server in use has no kvd (it died; init is frozen, so it stays
    dead): its raftd refuses the request without running it, and the
    client sends it, a write included, to another server at once."""
    cl, c = pool["client"], pool["cluster"]
    cl.kv_put("cl/nokvd/warm", b"w")
    srv = current_server(cl, c)
    assert srv is not None
    kvd_pid = srv.status()["kvd"]["pid"]
    before_srv = fwd_stats(srv)["kvfwd.refused"]
    before_cl = fwd_stats(cl)["kvfwd.retries"]
    os.kill(srv.pid, signal.SIGSTOP)      # init: no restart
    try:
        os.kill(kvd_pid, signal.SIGKILL)
        H.poll("kvd of %s gone" % srv.name,
               lambda: not H.pid_alive(kvd_pid), 10.0 * S)
        # ... as its raftd sees it (a request handed to kvd in between
        # may have run: that one is answered, not sent elsewhere).
        H.poll("raftd of %s without kvd" % srv.name,
               lambda: fwd_stats(srv)["kvfwd.kvd_connected"] == 0,
               10.0 * S)
        t0 = time.monotonic()
        r = cl.put("/v1/kv/cl/nokvd/w", body=b"elsewhere", timeout=30)
        el = time.monotonic() - t0
        assert r.status == 200 and r.body.strip() == b"true", r
        assert el < 2.0 * S, el
        assert current_server(cl, c) is not srv
        assert fwd_stats(srv)["kvfwd.refused"] > before_srv
        assert fwd_stats(cl)["kvfwd.retries"] > before_cl
        others = [a for a in c.agents if a is not srv]
        wait_everywhere(others, "cl/nokvd/w", b"elsewhere")
    finally:
        os.kill(srv.pid, signal.SIGCONT)
    srv.wait_daemon("kvd", old_pid=kvd_pid)
    wait_everywhere(c.agents, "cl/nokvd/w", b"elsewhere", timeout=30.0 * S)


def test_write_to_a_stalled_server_is_not_sent_elsewhere(pool):
    """A write the chosen server received but did not answer may have run:
    the client answers 500 once its hop times out and does not send it to
    another server; the server, resumed, runs it."""
    cl, c = pool["client"], pool["cluster"]
    cl.kv_put("cl/stall/warm", b"w")
    srv = current_server(cl, c)
    assert srv is not None
    others = [s for s in c.agents if s is not srv]
    pids = agent_pids(srv)
    signal_agent(pids, signal.SIGSTOP)   # alive, connected, silent
    try:
        t0 = time.monotonic()
        r = cl.put("/v1/kv/cl/stall/w", body=b"maybe", timeout=30)
        el = time.monotonic() - t0
        assert r.status == 500, r
        assert r.body.startswith(b"rpc error making call: timed out"), r
        assert HOP_TIMEOUT - 1.5 <= el <= HOP_TIMEOUT + 3.0 * S, el
        # Not sent to another server: it is on none of the others.
        for s in others:
            assert stale_entry(s, "cl/stall/w") is None
        # The client moved on: the next write goes to another server.
        def moved():
            r = cl.put("/v1/kv/cl/stall/next", body=b"n", timeout=15)
            return r.status == 200 and r.body.strip() == b"true"
        H.poll("a write through the client while its server is stalled",
               moved, 30.0 * S, interval=0.2)
        assert current_server(cl, c) in others
    finally:
        signal_agent(pids, signal.SIGCONT)
    # The stalled server got the write before it stopped answering: it
    # runs it once resumed. Sending it elsewhere too would have run it
    # twice.
    wait_everywhere(c.agents, "cl/stall/w", b"maybe", timeout=40.0 * S)
    c.wait_leader()


def test_client_moves_to_another_server_after_a_crash(pool):
    cl, c = pool["client"], pool["cluster"]
    cl.kv_put("cl/crash", b"before")
    cl.get("/v1/kv/cl/crash")
    srv = current_server(cl, c)
    assert srv is not None
    idx = cl.get("/v1/kv/cl/crash").index
    out = {}

    def block():
        out["r"] = cl.get("/v1/kv/cl/crash?index=%d&wait=30s" % idx,
                          timeout=60)
        out["t"] = time.monotonic()
    t = threading.Thread(target=block)
    t.start()
    # A second one on a key nothing writes: sent again with what is left
    # of its wait, it still ends when its wait does, with a 200.
    cl.kv_put("cl/crash/quiet", b"q")
    qidx = cl.get("/v1/kv/cl/crash/quiet").index
    quiet = {}

    def block_quiet():
        t1 = time.monotonic()
        quiet["r"] = cl.get("/v1/kv/cl/crash/quiet?index=%d&wait=8s" % qidx,
                            timeout=60)
        quiet["el"] = time.monotonic() - t1
    tq = threading.Thread(target=block_quiet)
    tq.start()
    time.sleep(0.5)
    assert t.is_alive() and tq.is_alive()
    before = fwd_stats(cl)
    was_leader = srv.leader() == srv.server_addr
    t_kill = time.monotonic()
    srv.crash()
    t0 = time.monotonic()        # every process of the server is gone

    def read_ok():
        r = cl.get("/v1/kv/cl/crash", timeout=15)
        return r.status == 200 and \
            H.unb64(r.json()[0]["Value"]) == b"before"
    H.poll("a read through the client after its server died", read_ok,
           20.0 * S, interval=0.05)
    t_read = time.monotonic() - t0

    def write_ok():
        r = cl.put("/v1/kv/cl/crash", body=b"after", timeout=15)
        return r.status == 200 and r.body.strip() == b"true"
    H.poll("a write through the client after its server died", write_ok,
           30.0 * S, interval=0.05)
    t_write = time.monotonic() - t0
    new = current_server(cl, c)
    assert new is not None and new is not srv, new
    # The blocking query parked on the dead server was sent again to
    # another one (a read may run twice) and the write woke it there.
    t.join(45)
    assert not t.is_alive()
    r = out["r"]
    assert r.status == 200, r
    assert H.unb64(r.json()[0]["Value"]) == b"after", r
    assert r.index > idx
    tq.join(30)
    assert not tq.is_alive()
    r = quiet["r"]
    assert r.status == 200 and r.index == qidx, r
    # httpd adds up to wait/16 of jitter to the wait.
    assert 7.9 <= quiet["el"] <= 8.5 + 2.0 * S, quiet["el"]
    after = fwd_stats(cl)
    assert after["kvfwd.failovers"] > before["kvfwd.failovers"], after
    assert after["kvfwd.retries"] > before["kvfwd.retries"], after
    print("\nclient failover after SIGKILL of %s (%s; crash() took %.3f "
          "s): first read %.3f s, first write %.3f s, parked query "
          "answered %.3f s" % (srv.name, "the leader" if was_leader else
                              "a follower", t0 - t_kill, t_read, t_write,
                              out["t"] - t0))
    assert t_read < 5.0 * S, t_read
    assert t_write < 10.0 * S, t_write


def test_no_known_servers_answers_at_once(agent_factory):
    nobody = H.PortSet()         # free ports: no agent answers there
    try:
        cl = agent_factory(subdir="lonely", name="lonely", client=True,
                           extra_args=["-retry-join", "127.0.0.1:%d"
                                       % nobody["serf_lan"]])
        cl.start(wait="http")
        for method, path, body in (
                ("GET", "/v1/kv/x", None),
                ("PUT", "/v1/kv/x", b"v"),
                ("GET", "/v1/kv/x?index=5&wait=30s", None),
                ("GET", "/v1/catalog/nodes", None),
                ("PUT", "/v1/catalog/register",
                 json.dumps({"Node": "n", "Address": "1.2.3.4"}))):
            r = cl.http(method, path, body=body)
            assert r.status == 500, (path, r)
            assert r.body.strip() == b"No known Consul servers", (path, r)
            assert r.elapsed < 1.0 * S, (path, r.elapsed)
        st = fwd_stats(cl)
        assert st["kvfwd.no_servers"] >= 5, st
        assert st["kvfwd.server"] == "-", st
    finally:
        nobody.release()


def test_requests_wait_for_the_clients_raftd(pool):
    """A client agent's kvd forwards through its own raftd; while init
    restarts that raftd, a read and a write are held (kvd's 5 s hold),
    then go, and succeed."""
    cl = pool["client"]
    wait_forwarding(cl)
    held0 = cl.ctl_stats("kvd")["kvfwd.held"]
    raftd = cl.status()["raftd"]["pid"]
    results = {}

    def req(name, method, path, body=None):
        t0 = time.monotonic()
        try:
            r = cl.http(method, path, body=body, timeout=30.0 * S)
            results[name] = (r.status, r.body, time.monotonic() - t0)
        except Exception as ex:  # reported by the asserts below
            results[name] = (None, repr(ex), time.monotonic() - t0)

    os.kill(cl.pid, signal.SIGSTOP)
    try:
        os.kill(raftd, signal.SIGKILL)
        time.sleep(0.3)
        threads = [threading.Thread(target=req, args=a) for a in (
            ("put", "PUT", "/v1/kv/cl/held", b"h"),
            ("get", "GET", "/v1/kv/cl/held-missing"))]
        for t in threads:
            t.start()
        time.sleep(1.0)
        assert not results, "did not wait for the client's raftd: %r" % \
            results
    finally:
        os.kill(cl.pid, signal.SIGCONT)
    for t in threads:
        t.join(20 * S)
    put, get = results["put"], results["get"]
    assert put[0] == 200 and put[1].strip() == b"true", put
    assert get[0] == 404, get
    assert put[2] >= 1.0 and get[2] >= 1.0, results
    assert cl.ctl_stats("kvd")["kvfwd.held"] >= held0 + 2
    r = cl.get("/v1/kv/cl/held?consistent")
    assert r.status == 200 and H.unb64(r.json()[0]["Value"]) == b"h", r
