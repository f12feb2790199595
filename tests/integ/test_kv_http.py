"""The KV HTTP API against Consul's semantics (reference/consul-api.md
sections 0, 1.4, 1.7): bodies, fields, headers, query parameters,
blocking queries, and the status and agent/self endpoints."""

import http.client
import json
import os
import socket
import threading
import time
from urllib.parse import quote

import pytest

import lictor_harness as H

ENTRY_FIELDS = {"CreateIndex", "ModifyIndex", "LockIndex", "Key", "Flags",
                "Value"}


def entries(r):
    assert r.status == 200, r
    e = r.json()
    assert isinstance(e, list), e
    return e


def one(r):
    e = entries(r)
    assert len(e) == 1, e
    return e[0]


def later(delay, fn, out):
    """Run fn after delay in a thread; out['t'] = monotonic time at which
    fn returned, out['r'] = its result."""
    def run():
        time.sleep(delay)
        try:
            out["r"] = fn()
        except Exception as ex:   # reported by the caller
            out["r"] = ex
        out["t"] = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# ------------------------------------------------------------ basics

def test_put_get_fields_and_indexes(shared_agent):
    a = shared_agent
    r = a.put("/v1/kv/kvh/basic/a", body=b"hello")
    assert r.status == 200, r
    assert r.body == b"true", r
    r = a.get("/v1/kv/kvh/basic/a")
    assert r.headers.get("Content-Type", "").startswith("application/json"), r
    e = one(r)
    assert set(e) == ENTRY_FIELDS, "fields %r (Session must be absent " \
        "when unlocked)" % sorted(e)
    assert e["Key"] == "kvh/basic/a"
    assert H.unb64(e["Value"]) == b"hello"
    assert e["Flags"] == 0 and e["LockIndex"] == 0
    assert e["CreateIndex"] == e["ModifyIndex"] > 0
    assert r.index == e["ModifyIndex"], "X-Consul-Index %r vs ModifyIndex " \
        "%r for a single key" % (r.index, e["ModifyIndex"])

    r = a.put("/v1/kv/kvh/basic/a", body=b"world")
    assert r.status == 200 and r.body == b"true", r
    e2 = one(a.get("/v1/kv/kvh/basic/a"))
    assert H.unb64(e2["Value"]) == b"world"
    assert e2["CreateIndex"] == e["CreateIndex"]
    assert e2["ModifyIndex"] > e["ModifyIndex"]


def test_headers_on_200_and_404(shared_agent):
    a = shared_agent
    a.kv_put("kvh/hdr/x", b"1")
    for path, status in (("/v1/kv/kvh/hdr/x", 200),
                         ("/v1/kv/kvh/hdr/missing", 404),
                         ("/v1/kv/kvh/hdr/?recurse", 200),
                         ("/v1/kv/kvh/nothing-here/?recurse", 404),
                         ("/v1/kv/kvh/hdr/?keys", 200),
                         ("/v1/kv/kvh/nothing-here/?keys", 404)):
        r = a.get(path)
        assert r.status == status, (path, r)
        idx = r.headers.get("X-Consul-Index")
        assert idx is not None and idx.isdigit() and int(idx) >= 1, \
            (path, r)
        assert r.headers.get("X-Consul-KnownLeader") == "true", (path, r)
        lc = r.headers.get("X-Consul-LastContact")
        assert lc == "0", (path, "X-Consul-LastContact on the leader "
                           "should be 0", r)
        if status == 404:
            assert r.body == b"", (path, r)


def test_empty_value_is_null_and_no_session(shared_agent):
    a = shared_agent
    r = a.put("/v1/kv/kvh/empty")
    assert r.status == 200 and r.body == b"true", r
    r = a.get("/v1/kv/kvh/empty")
    raw = json.loads(r.body)
    assert raw[0]["Value"] is None, "empty value must be JSON null: %r" % r
    assert "Session" not in raw[0], r
    assert b'"Value":null' in r.body.replace(b" ", b""), r
    r = a.get("/v1/kv/kvh/empty?raw")
    assert r.status == 200 and r.body == b"", r


def test_binary_values_round_trip(shared_agent):
    a = shared_agent
    allbytes = bytes(range(256))
    big = os.urandom(100 * 1024)
    for k, v in (("kvh/bin/all", allbytes), ("kvh/bin/rev", allbytes[::-1]),
                 ("kvh/bin/nul", b"\x00"), ("kvh/bin/big", big)):
        r = a.put("/v1/kv/" + k, body=v)
        assert r.status == 200 and r.body == b"true", (k, r)
        e = one(a.get("/v1/kv/" + k))
        assert H.unb64(e["Value"]) == v, k
        r = a.get("/v1/kv/%s?raw" % k)
        assert r.status == 200 and r.body == v, (k, len(r.body))
    # and in a recurse listing
    got = {e["Key"]: H.unb64(e["Value"])
           for e in entries(a.get("/v1/kv/kvh/bin/?recurse"))}
    assert got["kvh/bin/all"] == allbytes and got["kvh/bin/big"] == big


def test_raw(shared_agent):
    a = shared_agent
    a.kv_put("kvh/raw/r", b"<script>alert(1)</script>")
    r = a.get("/v1/kv/kvh/raw/r?raw")
    assert r.status == 200, r
    assert r.body == b"<script>alert(1)</script>"
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip() == "text/plain", \
        "raw must never be sniffed: Content-Type %r" % ct
    r = a.get("/v1/kv/kvh/raw/missing?raw")
    assert r.status == 404, r
    assert r.headers.get("X-Consul-Index") is not None, r


# ------------------------------------------------------------ listing

def test_recurse(shared_agent):
    a = shared_agent
    keys = ["kvh/rec/b/d", "kvh/rec/a", "kvh/rec/b/c", "kvh/recx"]
    for k in keys:
        a.kv_put(k, k.encode())
    r = a.get("/v1/kv/kvh/rec/?recurse")
    e = entries(r)
    assert [x["Key"] for x in e] == ["kvh/rec/a", "kvh/rec/b/c",
                                     "kvh/rec/b/d"], "sorted by key"
    for x in e:
        assert set(x) == ENTRY_FIELDS
        assert H.unb64(x["Value"]) == x["Key"].encode()
    assert r.index == max(x["ModifyIndex"] for x in e), \
        "recurse X-Consul-Index must be the prefix's highest ModifyIndex"
    # a prefix is a string prefix, not a path
    e = entries(a.get("/v1/kv/kvh/rec?recurse"))
    assert [x["Key"] for x in e] == ["kvh/rec/a", "kvh/rec/b/c",
                                     "kvh/rec/b/d", "kvh/recx"]
    r = a.get("/v1/kv/kvh/rec/none/?recurse")
    assert r.status == 404 and r.index is not None, r


def test_keys_and_separator(shared_agent):
    a = shared_agent
    for k in ("kvh/web/foo", "kvh/web/bar", "kvh/web/subdir/x",
              "kvh/web/subdir/y"):
        a.kv_put(k, b"v")
    r = a.get("/v1/kv/kvh/web/?keys")
    assert r.status == 200, r
    assert r.json() == ["kvh/web/bar", "kvh/web/foo", "kvh/web/subdir/x",
                        "kvh/web/subdir/y"]
    r = a.get("/v1/kv/kvh/web/?keys&separator=/")
    assert r.json() == ["kvh/web/bar", "kvh/web/foo", "kvh/web/subdir/"]
    assert r.index is not None
    r = a.get("/v1/kv/kvh/web?keys&separator=/")
    assert r.json() == ["kvh/web/"], r
    r = a.get("/v1/kv/kvh/web/sub?keys&separator=/")
    assert r.json() == ["kvh/web/subdir/"], r
    r = a.get("/v1/kv/kvh/web/?keys&separator=%2F")
    assert r.json() == ["kvh/web/bar", "kvh/web/foo", "kvh/web/subdir/"], r
    r = a.get("/v1/kv/kvh/web/zzz?keys")
    assert r.status == 404 and r.index is not None, r


@pytest.mark.parametrize("form", ["", "=1", "=true", "=True"])
def test_boolean_parameter_forms(shared_agent, form):
    a = shared_agent
    p = "kvh/bool%s/" % ("".join(c for c in form if c.isalnum()) or "bare")
    a.kv_put(p + "a", b"A")
    a.kv_put(p + "b", b"B")
    e = entries(a.get("/v1/kv/%s?recurse%s" % (p, form)))
    assert [x["Key"] for x in e] == [p + "a", p + "b"], form
    r = a.get("/v1/kv/%s?keys%s" % (p, form))
    assert r.status == 200 and r.json() == [p + "a", p + "b"], (form, r)
    r = a.get("/v1/kv/%sa?raw%s" % (p, form))
    assert r.status == 200 and r.body == b"A", (form, r)
    r = a.delete("/v1/kv/%s?recurse%s" % (p, form))
    assert r.status == 200 and r.body == b"true", (form, r)
    assert a.get("/v1/kv/%s?recurse" % p).status == 404, form


def test_consistency_modes_accepted(shared_agent):
    a = shared_agent
    a.kv_put("kvh/cons", b"c")
    for q in ("stale", "stale=1", "consistent", "consistent=1"):
        r = a.get("/v1/kv/kvh/cons?" + q)
        e = one(r)
        assert H.unb64(e["Value"]) == b"c", q
        assert r.headers.get("X-Consul-KnownLeader") == "true", (q, r)


# ------------------------------------------------------------ writes

def test_cas_put(shared_agent):
    a = shared_agent
    k = "/v1/kv/kvh/cas/k"
    r = a.put(k + "?cas=0", body=b"first")
    assert r.status == 200 and r.body == b"true", "cas=0 creates: %r" % r
    e = one(a.get(k))
    r = a.put(k + "?cas=0", body=b"second")
    assert r.status == 200 and r.body == b"false", \
        "cas=0 on an existing key must fail: %r" % r
    assert H.unb64(one(a.get(k))["Value"]) == b"first"
    r = a.put(k + "?cas=%d" % e["ModifyIndex"], body=b"third")
    assert r.status == 200 and r.body == b"true", r
    e2 = one(a.get(k))
    assert H.unb64(e2["Value"]) == b"third"
    assert e2["ModifyIndex"] > e["ModifyIndex"]
    r = a.put(k + "?cas=%d" % e["ModifyIndex"], body=b"stale")
    assert r.status == 200 and r.body == b"false", r
    assert H.unb64(one(a.get(k))["Value"]) == b"third"
    # cas=N on a missing key does not create it
    r = a.put("/v1/kv/kvh/cas/missing?cas=%d" % e2["ModifyIndex"], body=b"x")
    assert r.status == 200 and r.body == b"false", r
    assert a.get("/v1/kv/kvh/cas/missing").status == 404


def test_flags(shared_agent):
    a = shared_agent
    k = "/v1/kv/kvh/flags/k"
    assert a.put(k + "?flags=42", body=b"v").body == b"true"
    assert one(a.get(k))["Flags"] == 42
    top = 18446744073709551615
    assert a.put(k + "?flags=%d" % top, body=b"v").body == b"true"
    assert one(a.get(k))["Flags"] == top, "flags are a full uint64"
    assert a.put(k, body=b"v2").body == b"true"
    assert one(a.get(k))["Flags"] == 0, "a PUT without ?flags sets 0"
    # flags with cas
    e = one(a.get(k))
    assert a.put(k + "?flags=7&cas=%d" % e["ModifyIndex"],
                 body=b"v3").body == b"true"
    e = one(a.get(k))
    assert e["Flags"] == 7 and H.unb64(e["Value"]) == b"v3"


def test_delete_single_recurse_and_cas(shared_agent):
    a = shared_agent
    a.kv_put("kvh/del/one", b"1")
    r = a.delete("/v1/kv/kvh/del/one")
    assert r.status == 200 and r.body == b"true", r
    assert a.get("/v1/kv/kvh/del/one").status == 404
    r = a.delete("/v1/kv/kvh/del/never-existed")
    assert r.status == 200 and r.body == b"true", r

    for k in ("kvh/deltree/a", "kvh/deltree/b/c", "kvh/deltreex",
              "kvh/delkeep"):
        a.kv_put(k, b"x")
    r = a.delete("/v1/kv/kvh/deltree/?recurse")
    assert r.status == 200 and r.body == b"true", r
    assert a.get("/v1/kv/kvh/deltree/?recurse").status == 404
    assert a.get("/v1/kv/kvh/deltreex").status == 200
    # string prefix: "kvh/deltree" also removes "kvh/deltreex"
    assert a.delete("/v1/kv/kvh/deltree?recurse").body == b"true"
    assert a.get("/v1/kv/kvh/deltreex").status == 404
    assert a.get("/v1/kv/kvh/delkeep").status == 200

    a.kv_put("kvh/del/cas", b"c")
    e = one(a.get("/v1/kv/kvh/del/cas"))
    r = a.delete("/v1/kv/kvh/del/cas?cas=%d" % (e["ModifyIndex"] + 1000))
    assert r.status == 200 and r.body == b"false", r
    r = a.delete("/v1/kv/kvh/del/cas?cas=0")
    assert r.status == 200 and r.body == b"false", \
        "DELETE cas=0 does nothing: %r" % r
    assert a.get("/v1/kv/kvh/del/cas").status == 200
    r = a.delete("/v1/kv/kvh/del/cas?cas=%d" % e["ModifyIndex"])
    assert r.status == 200 and r.body == b"true", r
    assert a.get("/v1/kv/kvh/del/cas").status == 404


def test_percent_encoded_keys(shared_agent):
    a = shared_agent
    r = a.put("/v1/kv/kvh/enc%2Fa", body=b"slash")
    assert r.status == 200 and r.body == b"true", r
    e = one(a.get("/v1/kv/kvh/enc/a"))
    assert e["Key"] == "kvh/enc/a" and H.unb64(e["Value"]) == b"slash"
    assert one(a.get("/v1/kv/kvh%2Fenc%2Fa"))["Key"] == "kvh/enc/a"
    for key in ("kvh/enc/with space", "kvh/enc/ключ-ü"):
        r = a.put("/v1/kv/" + quote(key), body=key.encode())
        assert r.status == 200 and r.body == b"true", (key, r)
        e = one(a.get("/v1/kv/" + quote(key)))
        assert e["Key"] == key and H.unb64(e["Value"]) == key.encode()
    keys = a.get("/v1/kv/kvh/enc/?keys").json()
    assert keys == sorted(["kvh/enc/a", "kvh/enc/with space",
                           "kvh/enc/ключ-ü"], key=lambda s: s.encode()), keys
    r = a.delete("/v1/kv/" + quote("kvh/enc/with space"))
    assert r.status == 200 and r.body == b"true"
    assert a.get("/v1/kv/" + quote("kvh/enc/with space")).status == 404


@pytest.mark.parametrize("how", ["x-consul-token", "bearer", "query"])
def test_token_forms_accepted(shared_agent, how):
    a = shared_agent
    tok = "3f9c7e1a-0000-4000-8000-000000000001"
    hdrs, q = {}, ""
    if how == "x-consul-token":
        hdrs = {"X-Consul-Token": tok}
    elif how == "bearer":
        hdrs = {"Authorization": "Bearer " + tok}
    else:
        q = "?token=" + tok
    k = "/v1/kv/kvh/token/" + how
    r = a.put(k + q, body=b"t", headers=hdrs)
    assert r.status == 200 and r.body == b"true", r
    r = a.get(k + q, headers=hdrs)
    assert H.unb64(one(r)["Value"]) == b"t"
    r = a.delete(k + q, headers=hdrs)
    assert r.status == 200 and r.body == b"true", r


def test_http11_keep_alive(shared_agent):
    a = shared_agent
    conn = http.client.HTTPConnection("127.0.0.1", a.http_port, timeout=10)
    try:
        def req(method, path, body=None):
            conn.request(method, path, body=body)
            r = conn.getresponse()
            data = r.read()
            assert r.version == 11, "HTTP/1.1 expected, got %r" % r.version
            return r, data

        r, data = req("PUT", "/v1/kv/kvh/ka/a", b"v1")
        assert r.status == 200 and data == b"true"
        sock = conn.sock
        assert sock is not None, "server closed the connection after a PUT"
        steps = [("GET", "/v1/kv/kvh/ka/a", None, 200),
                 ("GET", "/v1/kv/kvh/ka/missing", None, 404),
                 ("PUT", "/v1/kv/kvh/ka/b", b"x" * 5000, 200),
                 ("GET", "/v1/kv/kvh/ka/?keys", None, 200),
                 ("GET", "/v1/kv/kvh/ka/b?raw", None, 200),
                 ("DELETE", "/v1/kv/kvh/ka/a", None, 200),
                 ("GET", "/v1/kv/kvh/ka/a", None, 404),
                 ("GET", "/v1/status/leader", None, 200)]
        for method, path, body, status in steps:
            r, data = req(method, path, body)
            assert r.status == status, (method, path, r.status, data)
            assert conn.sock is sock, \
                "connection was not kept alive after %s %s (%d)" % (
                    method, path, r.status)
            if path.endswith("?raw"):
                assert data == b"x" * 5000
            if path.endswith("?keys"):
                assert json.loads(data) == ["kvh/ka/a", "kvh/ka/b"]
    finally:
        conn.close()


# ------------------------------------------------------------ blocking

def test_blocking_get_wakes_on_write(shared_agent):
    a = shared_agent
    a.kv_put("kvh/block/k", b"old")
    r0 = a.get("/v1/kv/kvh/block/k")
    idx = r0.index
    out = {}
    th = later(0.5, lambda: a.put("/v1/kv/kvh/block/k", body=b"new"), out)
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/block/k?index=%d&wait=5s" % idx, timeout=15)
    t1 = time.monotonic()
    th.join(10)
    assert not isinstance(out.get("r"), Exception), out
    assert out["r"].status == 200, out
    assert r.status == 200, r
    assert t1 - t0 < 4.5, "blocking GET did not wake on the write " \
        "(returned after %.2f s of a 5 s wait)" % (t1 - t0)
    assert t1 - out["t"] < 1.0, "woke %.2f s after the write" % (
        t1 - out["t"])
    assert r.index > idx, (idx, r)
    e = one(r)
    assert H.unb64(e["Value"]) == b"new"
    assert r.index == e["ModifyIndex"]


def test_blocking_prefix_wakes_on_delete(shared_agent):
    a = shared_agent
    a.kv_put("kvh/bp/a", b"a")
    a.kv_put("kvh/bp/b", b"b")        # newest: its delete needs a tombstone
    r0 = a.get("/v1/kv/kvh/bp/?recurse")
    idx = r0.index
    assert idx == max(x["ModifyIndex"] for x in entries(r0))
    out = {}
    th = later(0.5, lambda: a.delete("/v1/kv/kvh/bp/b"), out)
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/bp/?recurse&index=%d&wait=5s" % idx, timeout=15)
    t1 = time.monotonic()
    th.join(10)
    assert not isinstance(out.get("r"), Exception), out
    assert t1 - t0 < 4.5, "prefix query did not wake on a delete " \
        "(%.2f s)" % (t1 - t0)
    assert t1 - out["t"] < 1.0, "woke %.2f s after the delete" % (
        t1 - out["t"])
    assert r.status == 200, r
    assert r.index > idx, "index must move forward on a delete of the " \
        "prefix's newest key (tombstone): %d -> %r" % (idx, r.index)
    assert [x["Key"] for x in entries(r)] == ["kvh/bp/a"]

    # the same with ?keys
    idx = r.index
    out = {}
    th = later(0.5, lambda: a.delete("/v1/kv/kvh/bp/a"), out)
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/bp/?keys&index=%d&wait=5s" % idx, timeout=15)
    t1 = time.monotonic()
    th.join(10)
    assert t1 - t0 < 4.5, "?keys query did not wake on a delete"
    assert r.status == 404 and r.index > idx, r


def test_blocking_get_times_out_with_same_index(shared_agent):
    a = shared_agent
    a.kv_put("kvh/bto/k", b"v")
    idx = a.get("/v1/kv/kvh/bto/k").index
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/bto/k?index=%d&wait=1s" % idx, timeout=15)
    el = time.monotonic() - t0
    assert r.status == 200, r
    assert el >= 0.95, "wait=1s returned after only %.2f s" % el
    assert el < 1.0 + 1.0 / 16 + 1.0, "wait=1s took %.2f s" % el
    assert r.index == idx, (idx, r)
    assert H.unb64(one(r)["Value"]) == b"v"


@pytest.mark.parametrize("wait,low", [("1500ms", 1.45), ("1.25s", 1.2)])
def test_wait_durations_are_honoured(shared_agent, wait, low):
    a = shared_agent
    a.kv_put("kvh/bwd/k", b"v")
    idx = a.get("/v1/kv/kvh/bwd/k").index
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/bwd/k?index=%d&wait=%s" % (idx, wait), timeout=15)
    el = time.monotonic() - t0
    assert r.status == 200, r
    assert low <= el < low * (1 + 1.0 / 16) + 1.0, \
        "wait=%s returned after %.2f s" % (wait, el)


@pytest.mark.parametrize("wait", ["60000ms", "4.91s", "5m"])
def test_wait_formats_accepted_and_woken(shared_agent, wait):
    a = shared_agent
    key = "kvh/bwf/" + wait.replace(".", "_")
    a.kv_put(key, b"v")
    idx = a.get("/v1/kv/" + key).index
    out = {}
    th = later(0.3, lambda: a.put("/v1/kv/" + key, body=b"w"), out)
    t0 = time.monotonic()
    r = a.get("/v1/kv/%s?index=%d&wait=%s" % (key, idx, wait), timeout=15)
    el = time.monotonic() - t0
    th.join(10)
    assert r.status == 200, (wait, r)
    assert el < 3.0, "wait=%s: not woken by a write (%.2f s)" % (wait, el)
    assert r.index > idx
    assert H.unb64(one(r)["Value"]) == b"w"



def _wait_stat(a, daemon, name, want, timeout=5.0 * H.SLOW):
    """Polls `lictor ctl DAEMON stats` until NAME equals want; returns
    the last stats."""
    end = time.monotonic() + timeout
    while True:
        st = a.ctl_stats(daemon)
        if st.get(name) == want or time.monotonic() > end:
            return st
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["kv", "catalog", "event"])
def test_blocking_query_let_go_when_client_hangs_up(shared_agent, kind):
    """A client that hangs up on a parked blocking query (wait=5m) frees
    it in the daemon holding it at once, not when the wait ends (Go's
    net/http cancels the request's context; lictor's httpd sends
    ipc.cancel). The other waiters and the counters of answered
    requests are untouched."""
    a = shared_agent
    if kind == "kv":
        a.kv_put("kvh/hang/k", b"v")
        path = "/v1/kv/kvh/hang/k?index=%d&wait=5m" % a.get(
            "/v1/kv/kvh/hang/k").index
        daemon, parked, canceled = ("kvd", "kv.blocking.parked",
                                    "kv.blocking.canceled")
    elif kind == "catalog":
        path = "/v1/catalog/nodes?index=%d&wait=5m" % a.get(
            "/v1/catalog/nodes").index
        daemon, parked, canceled = ("kvd", "catalog.blocking.parked",
                                    "kv.blocking.canceled")
    else:
        r = a.put("/v1/event/fire/hang-test", body=b"x")
        assert r.status == 200, r
        path = "/v1/event/list?name=hang-test&index=%d&wait=5m" % a.get(
            "/v1/event/list?name=hang-test").index
        daemon, parked, canceled = ("gossipd", "events.list_parked",
                                    "ipc.canceled")
    st0 = a.ctl_stats(daemon)
    h0 = a.ctl_stats("httpd")
    # one waiter that stays, one that hangs up
    keep = http.client.HTTPConnection("127.0.0.1", a.http_port, timeout=30)
    keep.request("GET", path)
    s = socket.create_connection(("127.0.0.1", a.http_port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    end = time.monotonic() + 5.0 * H.SLOW
    while a.ctl_stats(daemon)[parked] < st0[parked] + 2:
        assert time.monotonic() < end, "the two queries never parked"
        time.sleep(0.05)
    t0 = time.monotonic()
    s.close()
    # the counter moves only for a cancel; the parked count drops by it
    st = _wait_stat(a, daemon, canceled, st0[canceled] + 1)
    el = time.monotonic() - t0
    assert st[canceled] == st0[canceled] + 1, \
        "the hung-up query is still parked %.1f s later: %r" % (el, st)
    assert st[parked] == st0[parked] + 1, (parked, st0, st)
    h = a.ctl_stats("httpd")
    assert h["http.blocking_canceled"] == h0["http.blocking_canceled"] + 1
    assert h["http.errors_5xx"] == h0["http.errors_5xx"], (h0, h)
    # the other waiter is still parked, and answered by its own cause
    if kind == "kv":
        a.kv_put("kvh/hang/k", b"w")
    elif kind == "catalog":
        r = a.put("/v1/catalog/register", body=json.dumps(
            {"Node": "hang-node", "Address": "192.0.2.7"}).encode())
        assert r.status == 200, r
    else:
        assert a.put("/v1/event/fire/hang-test",
                     body=b"y").status == 200
    r = keep.getresponse()
    assert r.status == 200, r.status
    r.read()
    keep.close()
    st = _wait_stat(a, daemon, parked, st0[parked])
    assert st[parked] == st0[parked], st
    if kind == "catalog":
        a.put("/v1/catalog/deregister",
              body=json.dumps({"Node": "hang-node"}).encode())

def test_index_zero_does_not_block(shared_agent):
    a = shared_agent
    a.kv_put("kvh/b0/k", b"v")
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/b0/k?index=0&wait=5s", timeout=15)
    assert r.status == 200 and time.monotonic() - t0 < 1.0, r
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/b0/k?wait=5s", timeout=15)
    assert r.status == 200 and time.monotonic() - t0 < 1.0, r


def test_blocking_on_missing_key_wakes_on_create(shared_agent):
    a = shared_agent
    r0 = a.get("/v1/kv/kvh/bmiss/k")
    assert r0.status == 404 and r0.index is not None
    idx = max(r0.index, 1)
    out = {}
    th = later(0.5, lambda: a.put("/v1/kv/kvh/bmiss/k", body=b"born"), out)
    t0 = time.monotonic()
    r = a.get("/v1/kv/kvh/bmiss/k?index=%d&wait=5s" % idx, timeout=15)
    t1 = time.monotonic()
    th.join(10)
    assert t1 - t0 < 4.5, "query on a missing key not woken by its " \
        "creation (%.2f s)" % (t1 - t0)
    assert r.status == 200 and H.unb64(one(r)["Value"]) == b"born", r


# ------------------------------------------------------------ status, self

def test_status_leader_and_peers(shared_agent):
    a = shared_agent
    addr = "127.0.0.1:%d" % a.ports["server"]
    r = a.get("/v1/status/leader")
    assert r.status == 200 and r.json() == addr, r
    r = a.get("/v1/status/peers")
    assert r.status == 200 and r.json() == [addr], r


def test_agent_self(shared_agent):
    a = shared_agent
    r = a.get("/v1/agent/self")
    assert r.status == 200, r
    s = r.json()
    cfg = s["Config"]
    assert cfg["NodeName"] == a.name
    assert cfg["Datacenter"] == "dc1"
    assert cfg.get("Server") is True, cfg
    assert "SessionTTLMin" in cfg, cfg
    assert cfg["SessionTTLMin"] in ("10s", 10000000000), cfg["SessionTTLMin"]
    m = s["Member"]
    assert m["Name"] == a.name, m
    assert m["Addr"] == "127.0.0.1", m
    assert m["Port"] == a.ports["serf_lan"], m
    assert m["Status"] == 1, m
    assert m["Tags"]["role"] == "consul", m
    assert m["Tags"]["dc"] == "dc1", m


def test_agent_self_datacenter_flag(agent_factory):
    a = agent_factory(datacenter="integ-east").start()
    cfg = a.get("/v1/agent/self").json()["Config"]
    assert cfg["Datacenter"] == "integ-east"
    assert cfg["NodeName"] == a.name


def test_dev_mode_smoke(agent_factory):
    a = agent_factory(dev=True).start()
    assert a.put("/v1/kv/dev/k", body=b"d").body == b"true"
    assert H.unb64(one(a.get("/v1/kv/dev/k"))["Value"]) == b"d"
    cfg = a.get("/v1/agent/self").json()["Config"]
    assert cfg["Server"] is True and cfg["NodeName"] == a.name
    assert a.stop() == 0, "-dev agent did not exit 0 on SIGTERM"
