"""Real lictor agents gossiping on loopback (the gossip issue).

Five agents: three servers that form their Raft cluster by themselves from
`-bootstrap-expect 3 -retry-join <server 0's gossip address>` (gossip shows
raftd the other servers), and two client agents, one joining with
`-retry-join`, one through PUT /v1/agent/join. Then: every agent lists
every member alive with Consul's tags; a SIGKILLed client is marked failed
by all the others, its serfHealth check goes critical on every server; it
comes back alive after a restart; `lictor leave` shows left and the node
leaves the catalog; a user event reaches every agent exactly once. Also:
bad packets on the gossip port are dropped and counted, and gossip
encryption (same key joins, wrong key or no key does not).
"""

import json
import os
import socket
import time

import pytest

import lictor_harness as H

S = H.SLOW
# memberlist's LAN profile: suspicion of 4 x log10(5) probe intervals at
# the least, 6 times that at the most, plus the probe itself and the
# gossip that spreads the death; 60 s bounds it generously.
DETECT = 60.0 * S


def members(a, wan=False):
    r = a.get("/v1/agent/members" + ("?wan=1" if wan else ""))
    assert r.status == 200, r
    return {m["Name"]: m for m in r.json()}


def statuses(a):
    return {n: m["Status"] for n, m in members(a).items()}


def wait_status(agents, node, status, timeout):
    def ok():
        for a in agents:
            if statuses(a).get(node) != status:
                return None
        return True
    H.poll("%s has status %d everywhere" % (node, status), ok, timeout)


def health_node(a, node):
    r = a.get("/v1/health/node/%s?stale" % node)
    assert r.status == 200, r
    return {c["CheckID"]: c for c in r.json()}


def wait_serf_health(servers, node, status, timeout):
    def ok():
        for s in servers:
            checks = health_node(s, node)
            c = checks.get("serfHealth")
            if c is None or c["Status"] != status:
                return None
        return True
    H.poll("serfHealth of %s is %s on every server" % (node, status), ok,
           timeout)


@pytest.fixture(scope="module")
def pool(module_agent_factory):
    c = H.Cluster(module_agent_factory, n=3, name="gs")
    c.start()
    servers = c.agents
    seed = servers[0].serf_addr
    c1 = module_agent_factory(subdir="gc1", name="gc1", client=True,
                              fixed_ports=True,
                              extra_args=["-retry-join", seed])
    c1.start(wait="http")
    c2 = module_agent_factory(subdir="gc2", name="gc2", client=True)
    c2.start(wait="http")
    r = c2.put("/v1/agent/join/" + servers[1].serf_addr)
    assert r.status == 200, r
    everyone = servers + [c1, c2]
    names = {a.name for a in everyone}

    def all_alive():
        for a in everyone:
            st = statuses(a)
            if set(st) != names or set(st.values()) != {1}:
                return None
        return True
    H.poll("5 members alive on every agent", all_alive, 40.0 * S)
    return {"cluster": c, "servers": servers, "clients": [c1, c2],
            "all": everyone}


@pytest.mark.timeout(120)
def test_servers_form_raft_through_gossip_and_tags(pool):
    servers = pool["servers"]
    # One leader, three voters, found through gossip alone: the only
    # address any server was given is server 0's gossip port.
    conf = servers[0].raft_configuration()
    assert conf is not None
    assert sorted(s["Address"] for s in conf["Servers"]) == \
        sorted(a.server_addr for a in servers)
    for a in pool["all"]:
        ms = members(a)
        for s in servers:
            t = ms[s.name]["Tags"]
            assert t["role"] == "consul", t
            assert t["dc"] == "dc1", t
            assert t["port"] == str(s.server_port), t
            assert t["expect"] == "3", t
            assert t["build"].startswith("1.15.0"), t
            assert len(t["id"]) == 36, t
            assert ms[s.name]["Addr"] == "127.0.0.1"
            assert ms[s.name]["Port"] == s.ports["serf_lan"]
            assert ms[s.name]["ProtocolCur"] == 2
            assert ms[s.name]["DelegateCur"] == 4
        for c in pool["clients"]:
            t = ms[c.name]["Tags"]
            assert t["role"] == "node", t
            assert "port" not in t, t
    # The WAN pool holds the servers only, named node.dc.
    wan = members(servers[0], wan=True)
    H.poll("3 servers in the WAN pool",
           lambda: set(members(servers[0], wan=True)) ==
           {s.name + ".dc1" for s in servers}, 40.0 * S)
    wan = members(servers[0], wan=True)
    assert all(m["Tags"]["role"] == "consul" for m in wan.values())
    # A client is in no WAN pool: Consul lists none.
    r = pool["clients"][0].get("/v1/agent/members?wan=1")
    assert r.status == 200 and r.json() == [], r


@pytest.mark.timeout(120)
def test_every_member_is_a_catalog_node_with_serf_health(pool):
    names = {a.name for a in pool["all"]}

    def nodes_everywhere():
        for s in pool["servers"]:
            r = s.get("/v1/catalog/nodes?stale")
            if r.status != 200:
                return None
            if {n["Node"] for n in r.json()} != names:
                return None
        return True
    H.poll("every member in the catalog of every server", nodes_everywhere,
           40.0 * S)
    for a in pool["all"]:
        wait_serf_health(pool["servers"], a.name, "passing", 20.0 * S)
    c = health_node(pool["servers"][0], pool["clients"][0].name)
    chk = c["serfHealth"]
    assert chk["Name"] == "Serf Health Status"
    assert chk["Output"] == "Agent alive and reachable"
    assert chk["ServiceID"] == "" and chk["Node"] == pool["clients"][0].name


@pytest.mark.timeout(300)
def test_crash_is_detected_then_restart_is_alive(pool):
    c1 = pool["clients"][0]
    others = [a for a in pool["all"] if a is not c1]
    t0 = time.monotonic()
    c1.crash()
    wait_status(others, c1.name, 4, DETECT)
    detected = time.monotonic() - t0
    wait_serf_health(pool["servers"], c1.name, "critical", 30.0 * S)
    chk = health_node(pool["servers"][1], c1.name)["serfHealth"]
    assert chk["Output"] == "Agent not live or unreachable"
    print("crash of %s known by every member after %.1f s" %
          (c1.name, detected))
    # Back: it rejoins from its snapshot (no -join needed, but it has
    # -retry-join anyway) and is alive everywhere.
    c1.start(wait="http")
    wait_status(pool["all"], c1.name, 1, 40.0 * S)
    wait_serf_health(pool["servers"], c1.name, "passing", 30.0 * S)


@pytest.mark.timeout(120)
def test_user_event_reaches_every_agent_once(pool):
    s0 = pool["servers"][0]
    r = s0.put("/v1/event/fire/deploy?node=.", body=b"v1.2.3")
    assert r.status == 200, r
    ev = r.json()
    assert ev["Name"] == "deploy" and ev["Version"] == 1, ev
    assert len(ev["ID"]) == 36 and ev["NodeFilter"] == "."
    assert H.unb64(ev["Payload"]) == b"v1.2.3"

    def seen_everywhere():
        for a in pool["all"]:
            r = a.get("/v1/event/list?name=deploy")
            if r.status != 200:
                return None
            ids = [e["ID"] for e in r.json()]
            if ids.count(ev["ID"]) != 1:
                return None
        return True
    H.poll("the event on every agent, once", seen_everywhere, 30.0 * S)
    for a in pool["all"]:
        r = a.get("/v1/event/list?name=deploy")
        got = [e for e in r.json() if e["ID"] == ev["ID"]][0]
        assert H.unb64(got["Payload"]) == b"v1.2.3"
        assert got["LTime"] >= 1
        # Consul's index: the newest event's ID folded to 64 bits.
        u = ev["ID"].replace("-", "")
        assert r.index == int(u[:16], 16) ^ int(u[16:], 16)
    # Filters: an event for one node only lands there.
    target = pool["clients"][1]
    r = s0.put("/v1/event/fire/only?node=^%s$" % target.name)
    assert r.status == 200, r
    oid = r.json()["ID"]
    H.poll("filtered event on its node",
           lambda: oid in [e["ID"] for e in
                           target.get("/v1/event/list?name=only").json()],
           30.0 * S)
    time.sleep(2 * S)
    for a in pool["all"]:
        if a is target:
            continue
        assert oid not in [e["ID"] for e in
                           a.get("/v1/event/list?name=only").json()]
    # Bad requests, Consul's texts.
    r = s0.put("/v1/event/fire/x?tag=a")
    assert r.status == 500 and b"tag filter without service filter" in \
        r.body, r
    r = s0.put("/v1/event/fire/x?node=(")
    assert r.status == 500 and b"Invalid node filter" in r.body, r


@pytest.mark.timeout(120)
def test_event_list_blocks_until_a_new_event(pool):
    a = pool["clients"][1]
    r = a.get("/v1/event/list?name=blk")
    idx = r.index
    assert idx == 1 and r.json() == [], r
    t0 = time.monotonic()
    r = a.get("/v1/event/list?name=blk&index=%d&wait=1s" % idx)
    assert r.status == 200 and r.json() == []
    assert time.monotonic() - t0 >= 0.9
    import threading
    out = {}

    def waiter():
        out["r"] = a.get("/v1/event/list?name=blk&index=%d&wait=30s" % idx,
                         timeout=40)
    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)
    r = pool["servers"][2].put("/v1/event/fire/blk", body=b"x")
    assert r.status == 200
    th.join(40)
    assert "r" in out and out["r"].status == 200
    assert [e["ID"] for e in out["r"].json()] == [r.json()["ID"]]
    assert out["r"].index != idx


@pytest.mark.timeout(120)
def test_bad_packets_are_dropped_and_counted(pool):
    a = pool["servers"][2]
    before = a.ctl_stats("gossipd")
    port = a.ports["serf_lan"]
    bad = [
        b"",                                  # empty
        b"\x04",                              # alive, no body
        b"\x04\x85",                          # truncated map
        b"\x07\x02\x00\x05\x00\x05\x04",      # compound, truncated parts
        b"\x09\x81\xa3Buf\xc4\x03abc",        # compressed, no Algo
        b"\x09\x82\xa4Algo\x00\xa3Buf\xc4\x03\xff\xff\xff",  # bad LZW
        b"\x0c\x00\x00\x00\x00\x04\x80",      # CRC mismatch
        b"\x63garbage",                       # unknown type
        b"\x00" + b"\xde\xff\xff" * 300,      # huge map count
        b"\x04" + os.urandom(1500),           # oversize garbage
    ]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for b in bad:
            s.sendto(b, ("127.0.0.1", port))
    finally:
        s.close()
    # Streams too: garbage, a truncated push/pull, a wrong type.
    for b in (b"\xff\xff\xff\xff", b"\x06\x83", b"\x63xx"):
        t = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            t.sendall(b)
            t.shutdown(socket.SHUT_WR)
            t.settimeout(15 * S)
            try:
                while t.recv(4096):
                    pass
            except OSError:
                pass
        finally:
            t.close()

    def counted():
        st = a.ctl_stats("gossipd")
        dropped = sum(st.get(k, 0) - before.get(k, 0) for k in (
            "lan.packets_bad", "lan.packets_crc_bad", "lan.msgs_bad",
            "lan.core_msgs_bad", "lan.compound_truncated"))
        streams = (st.get("lan.streams_bad", 0) + st.get("lan.tcp_bad", 0)
                   - before.get("lan.streams_bad", 0)
                   - before.get("lan.tcp_bad", 0))
        return (dropped, streams) if dropped >= len(bad) - 2 and \
            streams >= 3 else None
    H.poll("bad packets counted", counted, 10.0 * S)
    # Nothing else changed: everyone is still alive everywhere.
    assert set(statuses(a).values()) == {1}
    assert a.running()


def _mp(o):
    """A little msgpack encoder for hand-made memberlist messages."""
    import struct
    if isinstance(o, bool):
        return b"\xc3" if o else b"\xc2"
    if isinstance(o, int):
        if o < 128:
            return bytes([o])
        if o < 65536:
            return b"\xcd" + struct.pack(">H", o)
        return b"\xce" + struct.pack(">I", o)
    if isinstance(o, str):
        b = o.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else
                b"\xd9" + bytes([len(b)])) + b
    if isinstance(o, bytes):
        return b"\xc4" + bytes([len(o)]) + o
    if isinstance(o, dict):
        out = bytes([0x80 | len(o)])
        for k in sorted(o):
            out += _mp(k) + _mp(o[k])
        return out
    raise TypeError(o)


def _push_pull(name, vsn, meta=b"", join=True):
    node = {"Addr": bytes([127, 0, 0, 99]), "Incarnation": 1, "Meta": meta,
            "Name": name, "Port": 7946, "State": 0, "Vsn": bytes(vsn)}
    return (b"\x06" + _mp({"Join": join, "Nodes": 1, "UserStateLen": 0}) +
            _mp(node))


def _send_stream(port, data):
    t = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        t.sendall(data)
        t.settimeout(10 * S)
        try:
            while t.recv(65536):
                pass
        except OSError:
            pass
    finally:
        t.close()


@pytest.mark.timeout(120)
def test_wrong_version_and_foreign_dc_are_refused(pool):
    """A push/pull from a node whose protocol range excludes ours, and a
    join by a member of another datacenter (Consul's merge check), are
    refused: nothing of them is merged, and both are counted."""
    a = pool["servers"][1]
    port = a.ports["serf_lan"]
    before = a.ctl_stats("gossipd")["lan.push_pulls_refused"]
    _send_stream(port, _push_pull("rogue-vsn", [6, 7, 6, 2, 5, 4]))
    tags = b"\xff" + _mp({"role": "node", "dc": "dc9",
                          "id": "3f1d3c1e-8f2b-4f7a-9e55-1c2d3e4f5a6b",
                          "vsn": "2", "build": "1.15.0"})
    _send_stream(port, _push_pull("rogue-dc", [1, 5, 2, 2, 5, 4], tags))
    H.poll("both push/pulls refused",
           lambda: a.ctl_stats("gossipd")["lan.push_pulls_refused"] >=
           before + 2, 10.0 * S)
    time.sleep(1)
    for ag in pool["all"]:
        if not ag.running():
            continue
        names = set(statuses(ag))
        assert "rogue-vsn" not in names and "rogue-dc" not in names, names
    assert "incompatible protocol versions" in a.log_text()
    assert "refusing to merge with rogue-dc of datacenter dc9" in \
        a.log_text()


@pytest.mark.timeout(150)
def test_leave_shows_left_and_leaves_the_catalog(pool):
    c2 = pool["clients"][1]
    others = [a for a in pool["all"] if a is not c2]
    r = c2.cli(["leave"])
    assert r.returncode == 0, r
    assert b"Graceful leave complete" in r.stdout
    c2.wait_exit(30.0 * S)
    wait_status(others, c2.name, 3, 30.0 * S)

    def gone():
        for s in pool["servers"]:
            r = s.get("/v1/catalog/nodes?stale")
            if r.status != 200 or c2.name in {n["Node"] for n in r.json()}:
                return None
        return True
    H.poll("the node that left is out of the catalog", gone, 30.0 * S)


def _key(b):
    return H.b64(b)


@pytest.mark.timeout(180)
def test_encryption_same_key_joins_wrong_key_does_not(agent_factory):
    key = _key(os.urandom(32))
    other = _key(os.urandom(32))
    a = agent_factory(subdir="e1", name="e1",
                      extra_args=["-encrypt", key])
    a.start()
    b = agent_factory(subdir="e2", name="e2", client=True,
                      extra_args=["-encrypt", key])
    b.start(wait="http")
    r = b.put("/v1/agent/join/" + a.serf_addr)
    assert r.status == 200, r
    H.poll("encrypted pool of 2",
           lambda: set(statuses(a).values()) == {1} and len(statuses(a)) == 2,
           20.0 * S)
    # Wrong key: the join fails, and the packets are counted as
    # undecryptable on the first agent.
    c = agent_factory(subdir="e3", name="e3", client=True,
                      extra_args=["-encrypt", other])
    c.start(wait="http")
    r = c.put("/v1/agent/join/" + a.serf_addr)
    assert r.status == 500, r
    # No key at all: refused too.
    d = agent_factory(subdir="e4", name="e4", client=True)
    d.start(wait="http")
    r = d.put("/v1/agent/join/" + a.serf_addr)
    assert r.status == 500, r
    time.sleep(3 * S)
    assert set(statuses(a)) == {"e1", "e2"}
    assert set(statuses(c)) == {"e3"}
    assert set(statuses(d)) == {"e4"}
    st = a.ctl_stats("gossipd")
    assert st["lan.packets_decrypt_failed"] + st["lan.streams_bad"] >= 1, st
    # The keyring is kept in the data dir, as Consul's: once written it
    # wins over -encrypt, so a restart with another key still talks to
    # the pool.
    with open(os.path.join(a.data_dir, "serf", "local.keyring")) as f:
        assert json.load(f) == [key]
    a.stop()
    a.extra_args = ["-encrypt", other]
    a.start()
    assert "ignoring -encrypt" in a.log_text()
    H.poll("e1 back in the encrypted pool",
           lambda: statuses(b).get("e1") == 1 and
           statuses(a).get("e2") == 1, 30.0 * S)
