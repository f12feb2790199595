"""Debian's python3-consul (a client no one here wrote) against lictor's
KV API: kv.put/get/delete with cas, flags, recurse, keys, separator and a
blocking get."""

import threading
import time

import consul
import pytest


@pytest.fixture(scope="module")
def c(shared_agent):
    return consul.Consul(host="127.0.0.1", port=shared_agent.http_port)


def test_put_get_single(c):
    assert c.kv.put("pc/single", "value-1") is True
    index, data = c.kv.get("pc/single")
    assert int(index) > 0
    assert data["Key"] == "pc/single"
    assert data["Value"] == b"value-1"
    assert data["Flags"] == 0
    assert data["CreateIndex"] == data["ModifyIndex"] == int(index)
    index, data = c.kv.get("pc/absent")
    assert data is None and int(index) > 0


def test_binary_and_empty(c):
    blob = bytes(range(256))
    assert c.kv.put("pc/bin", blob) is True
    assert c.kv.get("pc/bin")[1]["Value"] == blob
    assert c.kv.put("pc/none", None) is True
    assert c.kv.get("pc/none")[1]["Value"] is None


def test_recurse_keys_separator(c):
    for k in ("pc/tree/a", "pc/tree/b/c", "pc/tree/b/d", "pc/treex"):
        assert c.kv.put(k, k) is True
    index, data = c.kv.get("pc/tree/", recurse=True)
    assert [d["Key"] for d in data] == ["pc/tree/a", "pc/tree/b/c",
                                        "pc/tree/b/d"]
    assert [d["Value"] for d in data] == [b"pc/tree/a", b"pc/tree/b/c",
                                          b"pc/tree/b/d"]
    assert int(index) == max(d["ModifyIndex"] for d in data)
    index, keys = c.kv.get("pc/tree/", keys=True)
    assert keys == ["pc/tree/a", "pc/tree/b/c", "pc/tree/b/d"]
    index, keys = c.kv.get("pc/tree/", keys=True, separator="/")
    assert keys == ["pc/tree/a", "pc/tree/b/"]
    index, data = c.kv.get("pc/nothing/", recurse=True)
    assert data is None


def test_cas(c):
    assert c.kv.put("pc/cas", "one", cas=0) is True
    assert c.kv.put("pc/cas", "two", cas=0) is False
    _, d = c.kv.get("pc/cas")
    assert d["Value"] == b"one"
    assert c.kv.put("pc/cas", "three", cas=d["ModifyIndex"]) is True
    assert c.kv.put("pc/cas", "four", cas=d["ModifyIndex"]) is False
    _, d2 = c.kv.get("pc/cas")
    assert d2["Value"] == b"three"
    assert c.kv.delete("pc/cas", cas=d["ModifyIndex"]) is False
    assert c.kv.get("pc/cas")[1] is not None
    assert c.kv.delete("pc/cas", cas=d2["ModifyIndex"]) is True
    assert c.kv.get("pc/cas")[1] is None


def test_flags(c):
    assert c.kv.put("pc/flags", "f", flags=1234567) is True
    assert c.kv.get("pc/flags")[1]["Flags"] == 1234567
    assert c.kv.put("pc/flags", "f", flags=2 ** 64 - 1) is True
    assert c.kv.get("pc/flags")[1]["Flags"] == 2 ** 64 - 1


def test_delete_and_delete_recurse(c):
    for k in ("pc/dr/a", "pc/dr/b/c", "pc/drx", "pc/keep"):
        assert c.kv.put(k, "x") is True
    assert c.kv.delete("pc/dr/a") is True
    assert c.kv.get("pc/dr/a")[1] is None
    assert c.kv.delete("pc/dr", recurse=True) is True
    assert c.kv.get("pc/dr", recurse=True)[1] is None
    assert c.kv.get("pc/drx")[1] is None
    assert c.kv.get("pc/keep")[1]["Value"] == b"x"


def test_blocking_get_woken_by_put(c):
    assert c.kv.put("pc/block", "before") is True
    index, _ = c.kv.get("pc/block")
    done = {}

    def writer():
        time.sleep(0.5)
        done["ok"] = c.kv.put("pc/block", "after")
        done["t"] = time.monotonic()

    result = {}

    def reader():
        result["v"] = c.kv.get("pc/block", index=index, wait="5s")
        result["t"] = time.monotonic()

    t0 = time.monotonic()
    rt = threading.Thread(target=reader, daemon=True)
    wt = threading.Thread(target=writer, daemon=True)
    rt.start()
    wt.start()
    rt.join(15)
    wt.join(15)
    assert "v" in result, "blocking kv.get did not return within 15 s"
    assert done.get("ok") is True
    new_index, data = result["v"]
    assert result["t"] - t0 < 4.5, "blocking get not woken (%.2f s)" % (
        result["t"] - t0)
    assert result["t"] - done["t"] < 1.0
    assert int(new_index) > int(index)
    assert data["Value"] == b"after"


def test_blocking_recurse_woken_by_put(c):
    assert c.kv.put("pc/brec/a", "1") is True
    index, _ = c.kv.get("pc/brec/", recurse=True)
    t = threading.Timer(0.5, lambda: c.kv.put("pc/brec/b", "2"))
    t.start()
    t0 = time.monotonic()
    new_index, data = c.kv.get("pc/brec/", recurse=True, index=index,
                               wait="5s")
    el = time.monotonic() - t0
    t.join(10)
    assert el < 4.5, "recurse blocking get not woken (%.2f s)" % el
    assert int(new_index) > int(index)
    assert [d["Key"] for d in data] == ["pc/brec/a", "pc/brec/b"]


def test_agent_self_and_status(c, shared_agent):
    s = c.agent.self()
    assert s["Config"]["NodeName"] == shared_agent.name
    assert c.status.leader() == "127.0.0.1:%d" % shared_agent.ports["server"]
    assert c.status.peers() == ["127.0.0.1:%d"
                                % shared_agent.ports["server"]]
