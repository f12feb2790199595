"""Durability of a `-server -bootstrap -data-dir D` agent: everything
acknowledged before a SIGTERM is there, unchanged, after a new agent
starts on D; indexes never go backwards. And the seed notes' CLI session,
end to end."""

import fcntl
import json
import os
import re
import signal
import threading
import time

import pytest

import lictor_harness as H


def snapshot(a, prefix):
    r = a.get("/v1/kv/%s?recurse" % prefix)
    assert r.status == 200, r
    return r.index, {e["Key"]: e for e in r.json()}


@pytest.mark.timeout(180)
def test_restart_keeps_keys_flags_and_indexes(agent_factory):
    a = agent_factory("node").start()
    put = a.kv_put
    assert put("dur/plain", b"plain value") == b"true"
    assert put("dur/flags", b"f", "?flags=123456789") == b"true"
    assert put("dur/maxflags", b"m", "?flags=18446744073709551615") == b"true"
    assert put("dur/cas", b"created", "?cas=0") == b"true"
    assert put("dur/cas", b"nope", "?cas=0") == b"false"
    assert put("dur/twice", b"one") == b"true"
    assert put("dur/twice", b"two") == b"true"
    assert put("dur/empty", b"") == b"true"
    assert put("dur/binary", bytes(range(256))) == b"true"
    assert put("dur/gone", b"x") == b"true"
    assert a.delete("/v1/kv/dur/gone").body == b"true"
    for i in range(200):
        assert put("dur/many/%03d" % i, b"m%d" % i) == b"true"
    assert a.delete("/v1/kv/dur/many/1?recurse").body == b"true"  # 100-199
    assert put("dur/gonetree/a", b"x") == b"true"
    assert a.delete("/v1/kv/dur/gonetree?recurse").body == b"true"

    idx1, snap1 = snapshot(a, "dur/")
    single1 = {k: a.get("/v1/kv/" + k).index for k in snap1}
    gone_idx1 = a.get("/v1/kv/dur/gone").index
    root_idx1 = a.get("/v1/kv/?recurse").index
    assert "dur/gone" not in snap1 and len(snap1) == 7 + 100, sorted(snap1)

    code = a.stop()
    assert code == 0, "agent exit code after SIGTERM: %r" % code

    b = agent_factory("node-b", name=a.name, data_dir=a.data_dir).start()
    idx2, snap2 = snapshot(b, "dur/")
    assert set(snap2) == set(snap1), (sorted(set(snap1) ^ set(snap2))[:20])
    for k, e in snap1.items():
        assert snap2[k] == e, "entry %s changed across restart:\n before " \
            "%r\n after  %r" % (k, e, snap2[k])
    assert H.unb64(snap2["dur/binary"]["Value"]) == bytes(range(256))
    assert snap2["dur/empty"]["Value"] is None
    assert snap2["dur/maxflags"]["Flags"] == 18446744073709551615
    assert H.unb64(snap2["dur/cas"]["Value"]) == b"created"
    assert idx2 >= idx1, "X-Consul-Index went backwards: %d -> %d" % (
        idx1, idx2)
    for k, i in single1.items():
        assert b.get("/v1/kv/" + k).index >= i, k
    r = b.get("/v1/kv/dur/gone")
    assert r.status == 404
    assert r.index >= gone_idx1
    assert b.get("/v1/kv/dur/gonetree/a").status == 404
    assert b.get("/v1/kv/?recurse").index >= root_idx1
    # new writes continue after the highest index ever handed out
    assert b.kv_put("dur/new", b"n") == b"true"
    new = b.kv_entry("dur/new")
    top = max(max(e["ModifyIndex"] for e in snap1.values()), root_idx1)
    assert new["CreateIndex"] > top, (new, top)
    # and cas against a pre-restart ModifyIndex still works
    m = snap1["dur/twice"]["ModifyIndex"]
    assert b.kv_put("dur/twice", b"three", "?cas=%d" % m) == b"true"
    assert b.kv_put("dur/twice", b"four", "?cas=%d" % m) == b"false"

    # a second restart, this time also the writes made after the first
    code = b.stop()
    assert code == 0
    c = agent_factory("node-c", name=a.name, data_dir=a.data_dir).start()
    assert c.kv_entry("dur/new") == new
    assert c.kv_entry("dur/twice")["Value"] == b"three"


def test_data_dir_is_locked(agent_factory):
    a = agent_factory("one").start()
    b = agent_factory("two", data_dir=a.data_dir)
    with pytest.raises(H.HarnessError):
        b.start(timeout=10, attempts=1)
    assert b.exit_code is not None and b.exit_code > 0, \
        "a second agent on the same data dir must refuse to start " \
        "(exit %r)" % b.exit_code
    assert a.running()
    assert a.put("/v1/kv/lock/k", body=b"v").body == b"true"


def _raft_log_reused(a):
    """raftd's RocksDB LOG says it took a log file from its reuse list."""
    try:
        with open(os.path.join(a.data_dir, "raft", "LOG"), "rb") as f:
            return b"reusing log" in f.read()
    except FileNotFoundError:
        return False


@pytest.mark.timeout(240)
def test_raftd_recovers_a_reused_log(agent_factory):
    """raftd's log reuses its files (docs/architecture.md, "The log's disk
    writes"). After a SIGKILL of raftd, and then of the whole agent, while
    its live log is a reused file, raftd cuts the file's older bytes off
    before RocksDB reads it (RocksDB 7.8 would spin forever on some of
    them) and comes back with every acknowledged write."""
    a = agent_factory("reuse").start()
    big = os.urandom(200 * 1024)
    acked = {}
    # About 16 MiB through the log: two 8 MiB log files filled, so that
    # the next ones are reused.
    for i in range(200):
        key = "reuse/big/%03d" % i
        val = b"%03d" % i + big[i:]
        assert a.kv_put(key, val) == b"true"
        acked[key] = val
        if i >= 80 and _raft_log_reused(a):
            break
    assert _raft_log_reused(a), "raftd's RocksDB never reused a log file"
    for i in range(50):
        key = "reuse/small/%03d" % i
        assert a.kv_put(key, b"s%d" % i) == b"true"
        acked[key] = b"s%d" % i

    def check(agent, what):
        for k, v in acked.items():
            e = agent.kv_entry(k)
            assert e is not None, "%s: %s missing" % (what, k)
            assert e["Value"] == v, "%s: %s changed" % (what, k)

    # raftd alone: init restarts it on the same files.
    st = a.status()["raftd"]
    old = a.kill_daemon("raftd")
    a.wait_daemon("raftd", old_pid=old, min_restarts=st["restarts"] + 1)
    H.poll("raftd's log cut on its restart",
           lambda: re.search(r"rocksdb log \S+/raft/\d+\.log: kept \d+ "
                             r"whole records \(\d+ bytes\), cut the "
                             r"[1-9]\d* bytes", a.log_text()), 20 * H.SLOW)
    # kvd answers 500 "raftd is not available" until it has reconnected.
    H.poll("a write after raftd's restart",
           lambda: a.put("/v1/kv/reuse/after-raftd", body=b"x").body ==
           b"true", 20 * H.SLOW)
    acked["reuse/after-raftd"] = b"x"
    check(a, "after raftd's SIGKILL")

    # The whole agent, as a machine crash would (page cache aside).
    a.crash()
    b = agent_factory("reuse-b", name=a.name, data_dir=a.data_dir).start()
    assert b.kv_put("reuse/after-crash", b"y") == b"true"
    acked["reuse/after-crash"] = b"y"
    check(b, "after the agent's SIGKILL")
    assert not re.search(r"\[(ERROR|FATAL)\].*raftd", b.log_text()), \
        b.log_tail()


def _put_in_background(a, key, value):
    """PUT from a thread: (thread, result dict with status, body and
    the seconds it took)."""
    return _in_background(a, "PUT", "/v1/kv/" + key, value)


def _in_background(a, method, path, body=None):
    out = {}

    def run():
        t0 = time.monotonic()
        try:
            r = a.http(method, path, body=body, timeout=30.0 * H.SLOW)
            out.update(status=r.status, body=r.body)
        except Exception as ex:  # reported by the caller's asserts
            out.update(status=None, body=repr(ex).encode())
        out["secs"] = time.monotonic() - t0

    t = threading.Thread(target=run)
    t.start()
    return t, out


@pytest.mark.timeout(180)
def test_requests_wait_for_raftd(agent_factory):
    """A write or a consistent read that reaches kvd while raftd is down
    (init restarting it) is held until raftd is back, not failed; if
    raftd stays down, it fails after kvd's 5 s hold with 500 "raftd is
    not available", and the write is not applied later."""
    a = agent_factory("hold").start()
    assert a.kv_put("hold/before", b"0") == b"true"
    st = a.ctl_stats("kvd")
    held0, rheld0 = st["raft.writes_held"], st["raft.reads_held"]

    # 1. raftd killed while init is stopped, so that it stays down until
    # init goes on: the write waits, then succeeds.
    raftd = a.status()["raftd"]["pid"]
    os.kill(a.pid, signal.SIGSTOP)
    try:
        os.kill(raftd, signal.SIGKILL)
        time.sleep(0.3)
        t, out = _put_in_background(a, "hold/during", b"1")
        rt, rout = _in_background(a, "GET", "/v1/kv/hold/before?consistent")
        time.sleep(1.0)
        assert t.is_alive(), "the write did not wait for raftd: %r" % out
        assert rt.is_alive(), "the read did not wait for raftd: %r" % rout
    finally:
        os.kill(a.pid, signal.SIGCONT)
    t.join(20 * H.SLOW)
    rt.join(20 * H.SLOW)
    assert out.get("status") == 200 and out["body"].strip() == b"true", out
    assert out["secs"] >= 1.0, out
    assert rout.get("status") == 200, rout
    assert H.unb64(json.loads(rout["body"])[0]["Value"]) == b"0", rout
    assert a.kv_entry("hold/during")["Value"] == b"1"
    st = a.ctl_stats("kvd")
    assert st["raft.writes_held"] >= held0 + 1, st
    assert st["raft.reads_held"] >= rheld0 + 1, st

    # 2. raftd kept from starting (its store's LOCK held here, so each
    # start refuses): the write fails after the hold, and stays unwritten.
    a.wait_daemon("raftd", old_pid=raftd)
    expired0 = a.ctl_stats("kvd")["raft.writes_expired"]
    raftd = a.status()["raftd"]["pid"]
    lock = os.open(os.path.join(a.data_dir, "raft", "LOCK"), os.O_RDWR)
    try:
        os.kill(a.pid, signal.SIGSTOP)
        try:
            os.kill(raftd, signal.SIGKILL)
            H.poll("raftd's LOCK free", lambda: _try_lock(lock), 10)
        finally:
            os.kill(a.pid, signal.SIGCONT)
        time.sleep(0.3)
        # Stale reads (kvd answers them without raftd) all along: each
        # is a turn of kvd's loop, which must not keep putting the held
        # requests' deadline off.
        noise_stop = threading.Event()

        def noise():
            while not noise_stop.is_set():
                a.get("/v1/kv/hold/before?stale", timeout=10)
                time.sleep(0.005)

        nt = threading.Thread(target=noise)
        nt.start()
        try:
            # The read first: the write held after it must not hold its
            # answer back (it would, were each turn to re-arm the timer).
            rt, rout = _in_background(a, "GET",
                                      "/v1/kv/hold/before?consistent")
            time.sleep(1.5)
            t, out = _put_in_background(a, "hold/refused", b"2")
            t.join(20 * H.SLOW)
            rt.join(20 * H.SLOW)
        finally:
            noise_stop.set()
            nt.join(20)
        assert out.get("status") == 500, out
        assert out["body"].strip() == b"raftd is not available", out
        assert 4.5 <= out["secs"] <= 5.0 + 3 * H.SLOW, out
        assert rout.get("status") == 500, rout
        assert rout["body"].strip() == b"raftd is not available", rout
        assert 4.5 <= rout["secs"] <= 5.0 + 0.5 * H.SLOW, rout
        st = a.ctl_stats("kvd")
        assert st["raft.writes_expired"] >= expired0 + 1, st
        assert st["raft.reads_expired"] >= 1, st
        assert re.search(r"rocksdb \S+/raft is open in another process "
                         r"\(pid %d\)" % os.getpid(), a.log_text()), \
            a.log_tail()
    finally:
        os.close(lock)  # drops the lock: the next start succeeds
    a.wait_daemon("raftd", old_pid=raftd, timeout=60 * H.SLOW)
    H.poll("a write once raftd is back",
           lambda: a.put("/v1/kv/hold/after", body=b"3").body.strip() ==
           b"true", 20 * H.SLOW)
    assert a.kv_entry("hold/refused") is None

    # 3. raftd gone with the proposal on its way (sent to a stopped
    # raftd, which then dies without reading it): the write waits for
    # its entry, and fails saying it may still be applied.
    a.wait_daemon("raftd")
    raftd = a.status()["raftd"]["pid"]
    os.kill(raftd, signal.SIGSTOP)
    t, out = _put_in_background(a, "hold/lost", b"4")
    time.sleep(0.5)
    os.kill(a.pid, signal.SIGSTOP)
    try:
        os.kill(raftd, signal.SIGKILL)
        time.sleep(0.3)
    finally:
        os.kill(a.pid, signal.SIGCONT)
    t.join(20 * H.SLOW)
    assert out.get("status") == 500, out
    assert out["body"].strip() == \
        b"raftd is not available (the write may still be applied)", out
    # 8 s from when it came (kvd/kvd.h, RAFTD_LOST_WAIT_MS).
    assert 7.5 <= out["secs"] <= 8.0 + 3 * H.SLOW, out
    a.wait_daemon("raftd", old_pid=raftd)
    assert a.kv_put("hold/last", b"5") == b"true"
    assert a.kv_entry("hold/lost") is None
    assert a.kv_entry("hold/before")["Value"] == b"0"
    assert a.kv_entry("hold/after")["Value"] == b"3"


@pytest.mark.timeout(120)
def test_answers_raftd_lost_come_after_its_restart(agent_factory):
    """raftd commits a write and confirms a consistent read's index, then
    dies before kvd hears of either (a test build's fault hook keeps
    raftd from answering kvd). kvd holds both: the write is answered
    with success once the restarted raftd hands its entry over (it was
    committed), and the read is asked again and answered."""
    a = agent_factory("lost").start()
    assert a.kv_put("lost/before", b"0") == b"true"
    r = a.ctl(["raftd", "fault", "mute-kvd"])
    if r.returncode != 0 and b"not built in" in r.stdout + r.stderr:
        pytest.skip("a build without test hooks")
    assert r.returncode == 0, (r.stdout, r.stderr)
    # Measured muted: whatever else commits from now on (the leader's
    # own catalog entries) does not reach kvd either.
    props0 = a.ctl_stats("raftd")["raftd.proposals"]
    applied0 = a.ctl_stats("kvd")["kv.applied_index"]
    raftd = a.status()["raftd"]["pid"]
    held0 = a.ctl_stats("kvd")["raft.writes_held"]

    t, out = _put_in_background(a, "lost/late", b"6")
    rt, rout = _in_background(a, "GET", "/v1/kv/lost/before?consistent")
    # The write's entry commits in raftd; nothing reaches kvd.
    def committed():
        st = a.ctl_stats("raftd")
        return (st["raftd.proposals"] > props0 and
                st["raft.commit"] == st["raft.last_index"])
    H.poll("the write committed in raftd", committed, 10 * H.SLOW)
    time.sleep(0.5)
    assert t.is_alive(), "the write was answered by a muted raftd: %r" % out
    assert rt.is_alive(), "the read was answered by a muted raftd: %r" % rout
    assert a.ctl_stats("kvd")["kv.applied_index"] == applied0

    t0 = time.monotonic()
    os.kill(raftd, signal.SIGKILL)  # init starts a new one (not muted)
    t.join(20 * H.SLOW)
    rt.join(20 * H.SLOW)
    assert out.get("status") == 200 and out["body"].strip() == b"true", out
    assert rout.get("status") == 200, rout
    assert H.unb64(json.loads(rout["body"])[0]["Value"]) == b"0", rout
    # Answered from the restart on, well before the lost write's 8 s.
    assert time.monotonic() - t0 < 6.0 * H.SLOW, out
    st = a.ctl_stats("kvd")
    assert st["raft.writes_held"] >= held0 + 1, st
    assert st["raft.reads_held"] >= 1, st
    assert a.kv_entry("lost/late")["Value"] == b"6"
    assert a.kv_put("lost/after", b"7") == b"true"


def _try_lock(fd):
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _cli_ok(r, stdout):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.decode() == stdout, (r.stdout, r.stderr)


def test_seed_notes_session(agent_factory):
    """consul-notes.md, with the program name changed."""
    a = agent_factory("seed").start()
    cli = a.cli
    _cli_ok(cli(["kv", "put", "redis/config/minconns", "1"]),
            "Success! Data written to: redis/config/minconns\n")
    _cli_ok(cli(["kv", "put", "redis/config/minconns", "2"]),
            "Success! Data written to: redis/config/minconns\n")
    _cli_ok(cli(["kv", "get", "redis/config/minconns"]), "2\n")
    _cli_ok(cli(["kv", "put", "redis/config/maxconns", "25"]),
            "Success! Data written to: redis/config/maxconns\n")
    _cli_ok(cli(["kv", "put", "user/config/connections", "5"]),
            "Success! Data written to: user/config/connections\n")

    # across a restart of the agent
    assert a.restart() == 0
    e = a.kv_entry("user/config/connections")
    _cli_ok(cli(["kv", "get", "-detailed", "user/config/connections"]),
            "CreateIndex      %d\n"
            "Flags            0\n"
            "Key              user/config/connections\n"
            "LockIndex        0\n"
            "ModifyIndex      %d\n"
            "Session          -\n"
            "Value            5\n" % (e["CreateIndex"], e["ModifyIndex"]))
    _cli_ok(cli(["kv", "get", "redis/config/minconns"]), "2\n")
    _cli_ok(cli(["kv", "delete", "redis/config/minconns"]),
            "Success! Deleted key: redis/config/minconns\n")
    r = cli(["kv", "get", "redis/config/minconns"])
    assert r.returncode == 1, r
    assert r.stderr.decode() == \
        "Error! No key exists at: redis/config/minconns\n", r.stderr
    _cli_ok(cli(["kv", "get", "redis/config/maxconns"]), "25\n")
    _cli_ok(cli(["kv", "delete", "-recurse", "redis"]),
            "Success! Deleted keys with prefix: redis\n")
    r = cli(["kv", "get", "redis/config/maxconns"])
    assert r.returncode == 1
    assert r.stderr.decode() == \
        "Error! No key exists at: redis/config/maxconns\n"
    assert a.get("/v1/kv/redis?recurse").status == 404
    _cli_ok(cli(["kv", "get", "user/config/connections"]), "5\n")
    # the HTTP view agrees
    assert a.kv_entry("user/config/connections")["Value"] == b"5"
