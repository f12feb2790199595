"""The catalog's nodes and checks through real agents: PUT
/v1/catalog/register and /v1/catalog/deregister, GET /v1/catalog/nodes
(?node-meta), /v1/catalog/node/<node>, /v1/health/node/<node>,
/v1/catalog/datacenters, with Consul's JSON field names and order,
headers, indexes (unchanged data keeps ModifyIndex), blocking queries
woken by the writes that touch what they read (and only those), ?dc,
consistency modes, Consul's texts for bad input, Debian's python3-consul,
a 3-server cluster (writes through any server, ?stale reads on followers,
equal digests), a restart, the Raft leader registering the gossip members
(each with its serfHealth check), and kvd's quiet wait for a gossipd that
is not there.

With gossipd in the agents, the leader's reconcile registers each agent
as a node soon after it leads; the tests that compare indexes first wait
for that (fixture `cat`), so only their own writes move them."""

import json
import threading
import time

import pytest

import lictor_harness as H

S = H.SLOW
ID1 = "11111111-2222-3333-4444-555555555555"
ID2 = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
NODE_KEYS = ["ID", "Node", "Address", "Datacenter", "TaggedAddresses",
             "Meta", "CreateIndex", "ModifyIndex"]
CHECK_KEYS = ["Node", "CheckID", "Name", "Status", "Notes", "Output",
              "ServiceID", "ServiceName", "ServiceTags", "Type", "Interval",
              "Timeout", "ExposedPort", "Definition", "CreateIndex",
              "ModifyIndex"]


# ---------------------------------------------------------------- helpers

def ordered(r):
    """The body as JSON with objects as lists of (key, value) pairs, so
    field order can be checked."""
    return json.loads(r.body.decode(), object_pairs_hook=list)


def register(a, body, status=200):
    r = a.put("/v1/catalog/register", body=json.dumps(body))
    assert r.status == status, r
    if status == 200:
        assert r.body == b"true", r
        assert r.header("Content-Type") == "application/json", r
    return r


def deregister(a, body, status=200):
    r = a.put("/v1/catalog/deregister", body=json.dumps(body))
    assert r.status == status, r
    if status == 200:
        assert r.body == b"true", r
    return r


def nodes(a, query=""):
    r = a.get("/v1/catalog/nodes" + query)
    assert r.status == 200, r
    return r, {n["Node"]: n for n in r.json()}


def node(a, name, query=""):
    r = a.get("/v1/catalog/node/%s%s" % (name, query))
    assert r.status == 200, r
    return r, r.json()


def checks(a, name, query=""):
    r = a.get("/v1/health/node/%s%s" % (name, query))
    assert r.status == 200, r
    return r, r.json()


def later(delay, fn, out):
    def run():
        time.sleep(delay)
        try:
            out["r"] = fn()
        except Exception as ex:     # reported by the caller
            out["r"] = ex
        out["t"] = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def read_headers_ok(r, consistency="leader"):
    assert r.index is not None and r.index >= 1, r
    assert r.header("X-Consul-KnownLeader") == "true", r
    assert r.header("X-Consul-LastContact") is not None, r
    assert r.header("X-Consul-Effective-Consistency") == consistency, r


def gossip_runs(a):
    st = a.status()
    return "gossipd" in st and st["gossipd"]["state"] == "running"


def node_id(a):
    r = a.get("/v1/agent/self")
    assert r.status == 200, r
    return r.json()["Config"]["NodeID"]


def serf_check(reader, name, query="?stale"):
    r = reader.get("/v1/health/node/%s%s" % (name, query))
    if r.status != 200:
        return None
    return {c["CheckID"]: c for c in r.json()}.get("serfHealth")


def wait_reconciled(reader, agents, timeout=30.0):
    """Until every agent is a node with a passing serfHealth in reader's
    catalog: the leader's reconcile of gossip (no-op without gossipd)."""
    if not gossip_runs(reader):
        return
    for a in agents:
        H.poll("%s registered by the leader's reconcile" % a.name,
               lambda: (serf_check(reader, a.name) or {}).get("Status")
               == "passing", timeout * S)


@pytest.fixture(scope="module")
def cat(shared_agent):
    """The module's agent once the reconcile has registered it."""
    wait_reconciled(shared_agent, [shared_agent])
    return shared_agent


# ---------------------------------------------------------------- fields

def test_register_node_with_check_fields_and_order(cat):
    a = cat
    register(a, {"Datacenter": "dc1", "ID": ID1, "Node": "web1",
                 "Address": "10.1.0.1",
                 "TaggedAddresses": {"wan": "1.2.3.4", "lan": "10.1.0.1"},
                 "NodeMeta": {"rack": "r1", "env": "prod"},
                 "Check": {"CheckID": "mem", "Name": "Memory",
                           "Status": "passing", "Notes": "n",
                           "Output": "ok"}})
    r, ns = nodes(a)
    read_headers_ok(r)
    n = ns["web1"]
    body = [dict(x) for x in ordered(r)]
    web = [x for x in ordered(r) if dict(x)["Node"] == "web1"][0]
    assert [k for k, _ in web] == NODE_KEYS
    assert n["ID"] == ID1 and n["Address"] == "10.1.0.1"
    assert n["Datacenter"] == "dc1"
    assert n["TaggedAddresses"] == {"lan": "10.1.0.1", "wan": "1.2.3.4"}
    # Go writes map keys in order.
    assert [k for k, _ in dict(web)["TaggedAddresses"]] == ["lan", "wan"]
    assert [k for k, _ in dict(web)["Meta"]] == ["env", "rack"]
    assert n["CreateIndex"] == n["ModifyIndex"] >= 1
    assert r.index >= n["ModifyIndex"]
    assert [x["Node"] for x in body] == sorted(
        (x["Node"] for x in body), key=str.lower)

    r, doc = node(a, "web1")
    read_headers_ok(r)
    assert [k for k, _ in ordered(r)] == ["Node", "Services"]
    assert doc["Node"] == n and doc["Services"] == {}

    r, cs = checks(a, "web1")
    read_headers_ok(r)
    assert [[k for k, _ in c] for c in ordered(r)] == [CHECK_KEYS]
    c = cs[0]
    assert c == {"Node": "web1", "CheckID": "mem", "Name": "Memory",
                 "Status": "passing", "Notes": "n", "Output": "ok",
                 "ServiceID": "", "ServiceName": "", "ServiceTags": [],
                 "Type": "", "Interval": "", "Timeout": "",
                 "ExposedPort": 0, "Definition": {},
                 "CreateIndex": n["CreateIndex"],
                 "ModifyIndex": n["CreateIndex"]}
    assert r.index >= c["ModifyIndex"]


def test_nil_maps_are_null_and_names_ignore_case(cat):
    a = cat
    register(a, {"node": "Plain-1", "address": "10.1.0.2"})
    _, doc = node(a, "plain-1")
    assert doc["Node"]["Node"] == "Plain-1"
    assert doc["Node"]["TaggedAddresses"] is None
    assert doc["Node"]["Meta"] is None
    assert doc["Node"]["ID"] == ""
    _, doc2 = node(a, "PLAIN-1")
    assert doc2 == doc


def test_unknown_node_is_null_and_no_checks_empty(cat):
    a = cat
    r, doc = node(a, "no-such-node")
    assert r.body == b"null" and doc is None
    read_headers_ok(r)
    r, cs = checks(a, "no-such-node")
    assert r.body == b"[]" and cs == []
    read_headers_ok(r)


def test_unchanged_registration_keeps_indexes(cat):
    a = cat
    reg = {"Node": "same1", "Address": "10.1.0.3", "ID": ID2,
           "Checks": [{"CheckID": "c", "Status": "warning", "Output": "w"}]}
    register(a, reg)
    r1, ns = nodes(a)
    n1 = ns["same1"]
    _, c1 = checks(a, "same1")
    register(a, reg)
    r2, ns = nodes(a)
    assert ns["same1"] == n1
    assert r2.index == r1.index, "an unchanged registration moved the " \
        "nodes index %d -> %d" % (r1.index, r2.index)
    assert checks(a, "same1")[1] == c1
    # Only the check changes: the node keeps its ModifyIndex.
    reg["Checks"][0]["Output"] = "w2"
    register(a, reg)
    _, ns = nodes(a)
    assert ns["same1"]["ModifyIndex"] == n1["ModifyIndex"]
    _, c2 = checks(a, "same1")
    assert c2[0]["Output"] == "w2"
    assert c2[0]["CreateIndex"] == c1[0]["CreateIndex"]
    assert c2[0]["ModifyIndex"] > c1[0]["ModifyIndex"]
    # A new address moves the node.
    reg["Address"] = "10.1.0.33"
    register(a, reg)
    _, ns = nodes(a)
    assert ns["same1"]["ModifyIndex"] > n1["ModifyIndex"]
    assert ns["same1"]["CreateIndex"] == n1["CreateIndex"]


def test_check_defaults_order_and_definition(cat):
    a = cat
    register(a, {"Node": "chk1", "Address": "10.1.0.4", "Checks": [
        {"Name": "zeta"},
        {"CheckID": "Alpha", "Name": "a", "Status": "passing",
         "Definition": {"HTTP": "http://10.1.0.4/health",
                        "Interval": "10s", "Timeout": "1m",
                        "Header": {"X-B": ["2"], "X-A": ["1"]},
                        "Unknown": "skipped, as Go's json.Unmarshal does"}},
        {"CheckID": "ttl1", "Definition": {"TTL": "30s"}}]})
    r, cs = checks(a, "chk1")
    assert [c["CheckID"] for c in cs] == ["Alpha", "ttl1", "zeta"]
    alpha, ttl, zeta = cs
    # No status: critical; no CheckID: the name.
    assert zeta["Status"] == "critical" and zeta["CheckID"] == "zeta"
    assert zeta["Type"] == "" and zeta["Definition"] == {}
    # Catalog.Register names the type from the definition.
    assert alpha["Type"] == "http"
    d = [dict(c)["Definition"] for c in ordered(r)][0]
    assert [k for k, _ in d] == ["Interval", "Timeout", "HTTP", "Header"]
    assert alpha["Definition"] == {"Interval": "10s", "Timeout": "1m0s",
                                   "HTTP": "http://10.1.0.4/health",
                                   "Header": {"X-A": ["1"], "X-B": ["2"]}}
    assert ttl["Type"] == "ttl"
    assert ttl["Definition"] == {"TTL": 30000000000}


def test_deregister_check_then_node(cat):
    a = cat
    register(a, {"Node": "gone1", "Address": "10.1.0.5", "Checks": [
        {"CheckID": "a", "Status": "passing"},
        {"CheckID": "b", "Status": "passing"}]})
    r0, _ = checks(a, "gone1")
    deregister(a, {"Node": "gone1", "CheckID": "A"})
    r1, cs = checks(a, "gone1")
    assert [c["CheckID"] for c in cs] == ["b"]
    assert r1.index > r0.index
    # Missing things are fine, and change nothing.
    deregister(a, {"Node": "gone1", "CheckID": "nope"})
    deregister(a, {"Node": "never-was"})
    assert checks(a, "gone1")[0].index == r1.index
    # python-consul's spelling, a service ID (there are no services):
    deregister(a, {"node": "gone1", "serviceid": "web"})
    assert len(checks(a, "gone1")[1]) == 1
    rn0, _ = nodes(a)
    deregister(a, {"Node": "gone1"})
    rn1, ns = nodes(a)
    assert "gone1" not in ns
    assert rn1.index > rn0.index
    assert node(a, "gone1")[1] is None
    assert checks(a, "gone1")[1] == []


def test_node_meta_filter(cat):
    a = cat
    register(a, {"Node": "meta-a", "Address": "10.1.1.1",
                 "NodeMeta": {"env": "prod", "tier": "web"}})
    register(a, {"Node": "meta-b", "Address": "10.1.1.2",
                 "NodeMeta": {"env": "prod", "tier": "db"}})
    register(a, {"Node": "meta-c", "Address": "10.1.1.3",
                 "NodeMeta": {"env": "dev", "flag": ""}})
    _, ns = nodes(a, "?node-meta=env:prod")
    assert sorted(n for n in ns if n.startswith("meta-")) == \
        ["meta-a", "meta-b"]
    assert all(v["Meta"]["env"] == "prod" for v in ns.values())
    _, ns = nodes(a, "?node-meta=env:prod&node-meta=tier:db")
    assert list(ns) == ["meta-b"]
    # A key alone matches an empty value, as ParseMetaPair makes it.
    _, ns = nodes(a, "?node-meta=flag")
    assert list(ns) == ["meta-c"]
    _, ns = nodes(a, "?node-meta=env:none")
    assert ns == {}


def test_datacenters_and_dc(cat):
    a = cat
    r = a.get("/v1/catalog/datacenters")
    assert r.status == 200 and r.json() == ["dc1"], r
    assert nodes(a, "?dc=dc1")[0].status == 200
    for path in ("/v1/catalog/nodes?dc=dc9", "/v1/catalog/node/x?dc=dc9",
                 "/v1/health/node/x?dc=dc9"):
        r = a.get(path)
        assert (r.status, r.body) == (500, b"No path to datacenter"), \
            (path, r)
    r = register(a, {"Node": "x", "Address": "a", "Datacenter": "dc9"},
                 status=500)
    assert r.body == b"No path to datacenter"
    r = deregister(a, {"Node": "x", "Datacenter": "dc9"}, status=500)
    assert r.body == b"No path to datacenter"


def test_consistency_modes_and_pretty(cat):
    a = cat
    register(a, {"Node": "cons1", "Address": "10.1.2.1"})
    for q, mode in (("?stale", "stale"), ("?consistent", "consistent"),
                    ("", "leader")):
        r, doc = node(a, "cons1", q)
        assert doc["Node"]["Node"] == "cons1"
        read_headers_ok(r, mode)
    r = a.get("/v1/catalog/nodes?stale&consistent")
    assert r.status == 400, r
    r = a.get("/v1/catalog/node/cons1?pretty")
    assert r.status == 200 and r.body.startswith(b"{\n    \"Node\": {"), r
    assert json.loads(r.body)["Node"]["Node"] == "cons1"


# ---------------------------------------------------------------- blocking

def test_blocking_nodes_woken_by_register(cat):
    a = cat
    r0, _ = nodes(a)
    out = {}
    th = later(0.5, lambda: register(a, {"Node": "blk1",
                                         "Address": "10.1.3.1"}), out)
    t0 = time.monotonic()
    r = a.get("/v1/catalog/nodes?index=%d&wait=10s" % r0.index, timeout=30)
    t1 = time.monotonic()
    th.join(10)
    assert not isinstance(out.get("r"), Exception), out
    assert r.status == 200, r
    assert t1 - t0 < 8, "not woken by the register (%.2f s)" % (t1 - t0)
    assert t1 - out["t"] < 1.0 * S, "woke %.2f s after the write" % (
        t1 - out["t"])
    assert r.index > r0.index
    assert "blk1" in {n["Node"] for n in r.json()}


def test_blocking_times_out_with_current_index(cat):
    a = cat
    r0, _ = nodes(a)
    t0 = time.monotonic()
    r = a.get("/v1/catalog/nodes?index=%d&wait=1s" % r0.index, timeout=20)
    el = time.monotonic() - t0
    assert r.status == 200 and r.index == r0.index, r
    # wait plus at most wait/16 of jitter
    assert 0.9 <= el < 1.0625 + 2.0 * S, el


def test_blocking_node_sees_only_its_node(cat):
    a = cat
    register(a, {"Node": "watched", "Address": "10.1.4.1"})
    register(a, {"Node": "other", "Address": "10.1.4.2"})
    r0, _ = node(a, "watched")
    # Another node's change: the query sleeps through its wait.
    out = {}
    th = later(0.3, lambda: register(a, {"Node": "other",
                                         "Address": "10.1.4.22"}), out)
    t0 = time.monotonic()
    r = a.get("/v1/catalog/node/watched?index=%d&wait=2s" % r0.index,
              timeout=20)
    el = time.monotonic() - t0
    th.join(10)
    assert r.status == 200, r
    assert el >= 1.9, "woken by another node's change after %.2f s" % el
    # Its own change wakes it.
    r0 = r
    out = {}
    th = later(0.3, lambda: register(a, {"Node": "watched",
                                         "Address": "10.1.4.11"}), out)
    t0 = time.monotonic()
    r = a.get("/v1/catalog/node/watched?index=%d&wait=10s" % r0.index,
              timeout=30)
    el = time.monotonic() - t0
    th.join(10)
    assert el < 8, "not woken by the node's own change (%.2f s)" % el
    assert r.json()["Node"]["Address"] == "10.1.4.11"
    assert r.index > r0.index


def test_blocking_health_node_woken_by_check_change(cat):
    a = cat
    register(a, {"Node": "hb1", "Address": "10.1.5.1",
                 "Check": {"CheckID": "c", "Status": "passing"}})
    r0, _ = checks(a, "hb1")
    out = {}
    th = later(0.5, lambda: register(a, {
        "Node": "hb1", "Address": "10.1.5.1",
        "Check": {"CheckID": "c", "Status": "critical",
                  "Output": "down"}}), out)
    t0 = time.monotonic()
    r = a.get("/v1/health/node/hb1?index=%d&wait=10s" % r0.index,
              timeout=30)
    el = time.monotonic() - t0
    th.join(10)
    assert el < 8, "not woken by the check's change (%.2f s)" % el
    assert r.index > r0.index
    assert r.json()[0]["Status"] == "critical"
    # A query on a node not registered yet wakes when it is.
    r0, _ = node(a, "late1")
    out = {}
    th = later(0.5, lambda: register(a, {"Node": "late1",
                                         "Address": "10.1.5.2"}), out)
    r = a.get("/v1/catalog/node/late1?index=%d&wait=10s" % r0.index,
              timeout=30)
    th.join(10)
    assert r.json()["Node"]["Node"] == "late1"


# ---------------------------------------------------------------- refusals

def test_rename_refused_for_live_node(agent):
    # A fresh agent: a node with a serfHealth check that gossip does not
    # know is reaped by the leader's next 60 s round, as in Consul.
    a = agent
    wait_reconciled(a, [a])
    register(a, {"Node": "srv-x", "Address": "10.1.6.1", "ID": ID1.replace(
        "1111", "9999"), "Check": {"CheckID": "serfHealth",
                                  "Name": "Serf Health Status",
                                  "Status": "passing"}})
    other = "cccccccc-0000-0000-0000-000000000000"
    r = register(a, {"Node": "srv-x", "Address": "10.1.6.2", "ID": other},
                 status=500)
    assert r.body.decode() == (
        'failed inserting node: Error while renaming Node ID: "%s": Node '
        'name srv-x is reserved by node %s with name srv-x (10.1.6.1)' % (
            other, ID1.replace("1111", "9999"))), r
    _, doc = node(a, "srv-x")
    assert doc["Node"]["Address"] == "10.1.6.1"
    # Once gossip says it failed, the name may go to the new ID.
    register(a, {"Node": "srv-x", "Address": "10.1.6.1",
                 "SkipNodeUpdate": True,
                 "Check": {"CheckID": "serfHealth", "Status": "critical"}})
    register(a, {"Node": "srv-x", "Address": "10.1.6.2", "ID": other})
    _, doc = node(a, "srv-x")
    assert doc["Node"]["ID"] == other
    assert doc["Node"]["Address"] == "10.1.6.2"


BAD = [
    # (body, status, text): Consul's decoder (400) and RPC errors (500)
    (b"", 400, "Request decode failed: EOF"),
    (b'{"Node":', 400, "Request decode failed: unexpected EOF"),
    (b"{bad}", 400, "Request decode failed: invalid character 'b' "
     "looking for beginning of object key string"),
    (b'{"Node" "x"}', 400, "Request decode failed: invalid character '\"' "
     "after object key"),
    (b'{"Node":"x",}', 400, "Request decode failed: invalid character '}' "
     "looking for beginning of object key string"),
    (b"[1,2]", 400, "Request decode failed: json: cannot unmarshal array "
     "into Go value of type structs.RegisterRequest"),
    (b'{"Node":"x","Address":"a","Foo":1}', 400,
     'Request decode failed: json: unknown field "Foo"'),
    (b'{"Node":5}', 400, "Request decode failed: json: cannot unmarshal "
     "number into Go struct field RegisterRequest.Node of type string"),
    (b'{"Node":"x","Address":"a","SkipNodeUpdate":"yes"}', 400,
     "Request decode failed: json: cannot unmarshal string into Go struct "
     "field RegisterRequest.SkipNodeUpdate of type bool"),
    (b'{"Node":"x","Address":"a","Check":{"Status":1}}', 400,
     "Request decode failed: json: cannot unmarshal number into Go struct "
     "field HealthCheck.Check.Status of type string"),
    (b'{"Node":"x","Address":"a","Check":{"Bogus":1}}', 400,
     'Request decode failed: json: unknown field "Bogus"'),
    (b'{"Node":"x","Address":"a","TaggedAddresses":{"lan":1}}', 400,
     "Request decode failed: json: cannot unmarshal number into Go struct "
     "field RegisterRequest.TaggedAddresses of type string"),
    (b'{"Node":"x","Address":"a","Check":{"Definition":{"Interval":"x"}}}',
     400, 'Request decode failed: time: invalid duration "x"'),
    (b'{"Address":"a"}', 500, "Must provide node"),
    (b"null", 500, "Must provide node"),
    (b'{"Node":"x"}', 500,
     "Must provide address if SkipNodeUpdate is not set"),
    (b'{"Node":"x","Address":"a","ID":"nope"}', 500,
     "Bad node ID: uuid string is wrong length"),
    (b'{"Node":"x","Address":"a","Check":{"CheckID":"c","ServiceID":"w"}}',
     500, 'failed inserting check on node "x": Missing service '
     'registration'),
    (b'{"Node":"x","Address":"a","Check":{"Node":"y","CheckID":"c"}}', 500,
     'check node "y" does not match node "x"'),
]


@pytest.mark.parametrize("body,status,text", BAD)
def test_bad_register(cat, body, status, text):
    a = cat
    r0, _ = nodes(a)
    r = a.put("/v1/catalog/register", body=body)
    assert (r.status, r.body.decode()) == (status, text), r
    assert nodes(a)[0].index == r0.index
    assert node(a, "x")[1] is None


def test_oversize_fields_refused_not_passed_on(cat):
    """Values past what the IPC decoders take are refused by httpd, so
    kvd never sees (and never restarts on) them."""
    a = cat
    before = a.status()["kvd"]
    for body, text in (
            ({"Node": "big", "Address": "a",
              "Check": {"CheckID": "c", "Status": "s" * 300}},
             "Status too long: 300 bytes, at most 256"),
            ({"Node": "big", "Address": "a" * 2000},
             "Address too long: 2000 bytes, at most 1024"),
            ({"Node": "n" * 1100, "Address": "a"},
             "Node too long: 1100 bytes, at most 1024"),
            ({"Node": "big", "Address": "a",
              "Checks": [{"CheckID": "c", "Output": "o" * (1 << 20)},
                         {"CheckID": "d", "Output": "o" * ((1 << 20) + 1)}]},
             "Output too long: 1048577 bytes, at most 1048576")):
        r = a.put("/v1/catalog/register", body=json.dumps(body))
        assert (r.status, r.body.decode()) == (400, text), r
    r = a.put("/v1/catalog/deregister", body=json.dumps(
        {"Node": "big", "CheckID": "c" * 1100}))
    assert r.status == 400, r
    r = a.get("/v1/catalog/node/" + "n" * 1100)
    assert r.status == 400, r
    after = a.status()["kvd"]
    assert (after["pid"], after["restarts"]) == (before["pid"],
                                                 before["restarts"])
    assert node(a, "big")[1] is None


def test_services_refused_for_now(cat):
    a = cat
    r = a.put("/v1/catalog/register", body=json.dumps({
        "Node": "svc1", "Address": "10.1.7.1",
        "Service": {"Service": "redis", "Port": 6379}}))
    assert r.status == 400, r
    assert r.body.startswith(b"services are not supported yet"), r
    assert node(a, "svc1")[1] is None


def test_bad_reads_and_methods(cat):
    a = cat
    for path in ("/v1/catalog/node/", "/v1/health/node/"):
        r = a.get(path)
        assert (r.status, r.body) == (400, b"Missing node name"), (path, r)
    r = a.get("/v1/catalog/nodes?index=abc")
    assert r.status == 400, r
    r = a.get("/v1/catalog/nodes?wait=forever&index=1")
    assert r.status == 400, r
    for method, path, allow in (("POST", "/v1/catalog/nodes", "GET"),
                                ("GET", "/v1/catalog/register", "PUT"),
                                ("DELETE", "/v1/catalog/deregister", "PUT"),
                                ("PUT", "/v1/health/node/x", "GET")):
        r = a.http(method, path)
        assert r.status == 405, (method, path, r)
        assert r.header("Allow") == allow, (method, path, r)
    r = deregister(a, {"CheckID": "c"}, status=500)
    assert r.body == b"Must provide node"
    r = a.put("/v1/catalog/deregister", body=b'{"Node":"x","Nope":1}')
    assert (r.status, r.body) == (
        400, b'Request decode failed: json: unknown field "Nope"'), r
    # The obsolete Address is still accepted by the deregister.
    deregister(a, {"Node": "x", "Address": "1.2.3.4"})


# ---------------------------------------------------------------- clients

def test_python_consul(cat):
    import consul
    c = consul.Consul(host="127.0.0.1", port=cat.http_port)
    assert c.catalog.datacenters() == ["dc1"]
    assert c.catalog.register("py1", "10.2.0.1", check={
        "CheckID": "py-check", "Name": "python check", "Status": "passing",
        "Notes": "from python3-consul"}) is True
    index, ns = c.catalog.nodes()
    assert int(index) >= 1
    n = [x for x in ns if x["Node"] == "py1"][0]
    assert n["Address"] == "10.2.0.1"
    index, doc = c.catalog.node("py1")
    assert doc["Node"]["Address"] == "10.2.0.1" and doc["Services"] == {}
    index, cs = c.health.node("py1")
    assert [(x["CheckID"], x["Status"], x["Notes"]) for x in cs] == \
        [("py-check", "passing", "from python3-consul")]
    assert c.catalog.node("py-none")[1] is None
    # A blocking nodes() woken by a registration.
    index, _ = c.catalog.nodes()
    out = {}
    th = later(0.5, lambda: c.catalog.register("py2", "10.2.0.2"), out)
    t0 = time.monotonic()
    index2, ns = c.catalog.nodes(index=index, wait="10s")
    el = time.monotonic() - t0
    th.join(10)
    assert out.get("r") is True, out
    assert el < 8 and int(index2) > int(index), (el, index, index2)
    assert "py2" in {x["Node"] for x in ns}
    for cons in ("stale", "consistent"):
        assert c.catalog.node("py2", consistency=cons)[1]["Node"][
            "Node"] == "py2"
    assert c.catalog.deregister("py1", check_id="py-check") is True
    assert c.health.node("py1")[1] == []
    assert c.catalog.deregister("py1") is True
    assert c.catalog.node("py1")[1] is None


# ---------------------------------------------------------------- restarts

def test_catalog_survives_restart(agent):
    register(agent, {"Node": "dur1", "Address": "10.3.0.1", "ID": ID1,
                     "Check": {"CheckID": "c", "Status": "passing"}})
    _, before = node(agent, "dur1")
    _, cbefore = checks(agent, "dur1")
    agent.restart()
    _, after = node(agent, "dur1")
    assert after == before
    assert checks(agent, "dur1")[1] == cbefore
    # kvd alone: SIGKILL and back.
    pid = agent.kill_daemon("kvd")
    agent.wait_daemon("kvd", old_pid=pid)
    H.poll("catalog back after kvd restart",
           lambda: agent.get("/v1/catalog/node/dur1").status == 200,
           20 * S)
    assert node(agent, "dur1")[1] == before


def test_leader_registers_itself_from_gossip(cat):
    """The reconcile (leader.go's handleAliveMember): this agent, alive in
    gossip, is a node with its address and ID and a passing serfHealth;
    an in-step catalog costs no further write."""
    a = cat
    if not gossip_runs(a):
        pytest.skip("no gossipd in this agent")
    _, doc = node(a, a.name)
    assert doc["Node"]["ID"] == node_id(a)
    assert doc["Node"]["Address"] == "127.0.0.1"
    assert doc["Node"]["Datacenter"] == "dc1"
    serf = serf_check(a, a.name, "")
    assert {k: serf[k] for k in ("Node", "CheckID", "Name", "Status",
                                 "Notes", "Output", "ServiceID", "Type",
                                 "Definition")} == {
        "Node": a.name, "CheckID": "serfHealth",
        "Name": "Serf Health Status", "Status": "passing", "Notes": "",
        "Output": "Agent alive and reachable", "ServiceID": "", "Type": "",
        "Definition": {}}
    st = a.ctl_stats("kvd")
    assert st["reconcile.leader"] == 1, st
    assert st["reconcile.rounds"] >= 1 and st["reconcile.commands"] >= 1, st
    commands = st["reconcile.commands"]
    r0, _ = nodes(a)
    time.sleep(2)
    assert nodes(a)[0].index == r0.index
    assert a.ctl_stats("kvd")["reconcile.commands"] == commands


def test_gossipd_outage_is_quiet(agent):
    """gossipd gone (killed while init is frozen, so nothing restarts
    it): the leader's kvd logs the outage once, backs off between polls
    (1, 2, 4 s...), writes nothing; when gossipd is back it says so once
    and the catalog stays as it was."""
    import os
    import signal
    a = agent
    if not gossip_runs(a):
        pytest.skip("no gossipd in this build")
    wait_reconciled(a, [a])
    pid = a.status()["gossipd"]["pid"]
    st0 = a.ctl_stats("kvd")
    r0, _ = nodes(a)
    os.kill(a.pid, signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGKILL)
        time.sleep(9)
        st1 = a.ctl_stats("kvd")
    finally:
        os.kill(a.pid, signal.SIGCONT)
    errors = st1["reconcile.poll_errors"] - st0["reconcile.poll_errors"]
    # failures at about 0, 1, 3 and 7 s: never a spin
    assert 2 <= errors <= 6, (st0, st1)
    assert st1["reconcile.commands"] == st0["reconcile.commands"], st1
    assert nodes(a)[0].index == r0.index

    def log_lines(text):
        return [l for l in a.log_text().splitlines() if text in l]
    assert len(log_lines("gossipd is not answering")) == 1, \
        log_lines("gossipd is not answering")
    # init restarts gossipd; kvd's next poll (backoff 8 s) finds it.
    H.poll("kvd hears gossipd again",
           lambda: log_lines("gossipd answers again"), 40 * S)
    assert len(log_lines("gossipd is not answering")) == 1
    st2 = a.ctl_stats("kvd")
    assert st2["reconcile.commands"] == st0["reconcile.commands"], st2
    assert (serf_check(a, a.name, "") or {}).get("Status") == "passing"


# ---------------------------------------------------------------- cluster

def test_replicated_on_three_servers(cluster_factory):
    c = cluster_factory(3)
    lead = c.wait_leader()
    fol = [a for a in c.agents if a is not lead]
    # With gossipd, the leader's reconcile registers every server; let it
    # settle so that only this test's writes move the indexes below.
    wait_reconciled(lead, c.agents)
    if gossip_runs(lead):
        # A stale read trails the leader (by up to raftd's commit
        # timeout when writes stop, as Consul's by its CommitTimeout).
        wait_reconciled(fol[0], c.agents)
        for a in c.agents:
            _, doc = node(fol[0], a.name, "?stale")
            assert doc["Node"]["ID"] == node_id(a)
            assert doc["Node"]["Address"] == "127.0.0.1"
        st = lead.ctl_stats("kvd")
        assert st["reconcile.leader"] == 1, st
        for a in fol:
            assert a.ctl_stats("kvd")["reconcile.leader"] == 0
    register(lead, {"Node": "rep1", "Address": "10.5.0.1", "ID": ID1,
                    "NodeMeta": {"env": "prod"},
                    "Check": {"CheckID": "c", "Status": "passing"}})
    # Through a follower too: forwarded to the leader by raftd.
    register(fol[0], {"Node": "rep2", "Address": "10.5.0.2",
                      "Checks": [{"CheckID": "d", "Status": "warning"}]})
    _, want = node(lead, "rep1")
    for a in c.agents:
        H.poll("rep1 and rep2 on %s (stale)" % a.name,
               lambda: node(a, "rep2", "?stale")[1] is not None, 10 * S)
        r, doc = node(a, "rep1", "?stale")
        assert doc == want, (a.name, doc)
        read_headers_ok(r, "stale")
        assert [x["CheckID"] for x in checks(a, "rep2", "?stale")[1]] == \
            ["d"]
        # the other modes work on followers as well
        assert node(a, "rep2", "?consistent")[1]["Node"]["Node"] == "rep2"
        assert node(a, "rep2")[1]["Node"]["Node"] == "rep2"
    c.wait_digests()
    # A blocking query parked on a follower, woken by a write on the
    # leader.
    r0, _ = nodes(fol[1], "?stale")
    out = {}
    th = later(0.5, lambda: register(lead, {"Node": "rep3",
                                            "Address": "10.5.0.3"}), out)
    r = fol[1].get("/v1/catalog/nodes?stale&index=%d&wait=10s" % r0.index,
                   timeout=30)
    th.join(10)
    assert r.status == 200 and r.index > r0.index, r
    assert "rep3" in {n["Node"] for n in r.json()}
    deregister(fol[1], {"Node": "rep1"})
    for a in c.agents:
        H.poll("rep1 gone on %s" % a.name,
               lambda: node(a, "rep1", "?stale")[1] is None, 10 * S)
    c.wait_digests()
