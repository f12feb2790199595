"""Real `lictor agent`s gossiping with the real HashiCorp `serf agent`.

The Serf agent is tools/serf-peer/bin/serf, built by
tools/serf-peer/build.sh from Debian's Serf 0.9.4 and memberlist 0.2.2
sources (scripts/test.sh builds it before this suite runs); the module is
skipped only when that binary is missing. Everything is on loopback with
free ports; every Serf agent is stopped by pid at the end of its test
(SIGINT, its graceful leave, then SIGKILL after a bound).

Covered: a Serf agent joins a lictor agent (-join) and each lists the
other alive with its tags (Consul's tags as lictor sends them; Serf's
protocol numbers); lictor joins a Serf agent (`lictor join`, PUT
/v1/agent/join); Consul events (`lictor event`, a Serf user event
"consul:event:<name>" with a msgpack UserEvent) reach a Serf agent's
event handler exactly once, and a Consul event fired by `serf event`
lands in /v1/event/list; a plain Serf event reaches lictor (gossipd's dump
and lan.events_in) and stays out of /v1/event/list; a SIGKILLed Serf agent
is failed on lictor, a crashed lictor agent is failed on Serf, within
memberlist's LAN bounds; encryption: a key from `lictor keygen` shared by
both joins, a wrong key or no key on either side is refused both ways.
"""

import base64
import json
import os
import re
import signal
import struct
import subprocess
import time

import pytest

import lictor_harness as H

S = H.SLOW
SERF = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "tools", "serf-peer", "bin", "serf")

pytestmark = pytest.mark.skipif(
    not os.access(SERF, os.X_OK),
    reason="no real Serf agent at %s: build it with bash "
    "tools/serf-peer/build.sh (needs bash scripts/install-deps.sh --test; "
    "scripts/test.sh does both)" % SERF)

# memberlist's LAN profile in a pool of two: a probe every 1 s, 500 ms for
# the ack (the TCP fallback within the interval), then suspicion for
# SuspicionMult 4 x max(1, log10(n)) x 1 s = 4 s, no confirmations being
# expected with n - 2 < 2 others; the dead message then goes out at once:
# about 6 s (Serf's own view of lictor takes as long). With more members
# (left ones count until reclaimed) the timer starts at 6 x 4 s = 24 s
# and only confirmations shorten it, so the detection tests use pools of
# two. 30 s bounds it with room for a loaded CI machine; the protocol's
# clocks do not slow down under a sanitizer, so neither does the bound.
DETECT = 30.0
SUSPICION_MIN = 4.0
SETTLE = 20.0 * S
STOP_TIMEOUT = 15.0 * S


# ---------------------------------------------------------------- msgpack

def mp_decode(b):
    """The msgpack subset go-msgpack writes for Consul's UserEvent (maps,
    str, bin, ints, nil, bool); raises on anything else or leftovers."""
    v, i = _mp(b, 0)
    if i != len(b):
        raise ValueError("%d bytes left after the value" % (len(b) - i))
    return v


def _mp(b, i):
    t = b[i]
    i += 1
    if t <= 0x7f:
        return t, i
    if t >= 0xe0:
        return t - 0x100, i
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        if t <= 0x8f:
            n = t & 0x0f
        else:
            w = 2 if t == 0xde else 4
            n = int.from_bytes(b[i:i + w], "big")
            i += w
        out = {}
        for _ in range(n):
            k, i = _mp(b, i)
            out[k], i = _mp(b, i)
        return out, i
    if 0x90 <= t <= 0x9f:
        out = []
        for _ in range(t & 0x0f):
            v, i = _mp(b, i)
            out.append(v)
        return out, i
    if 0xa0 <= t <= 0xbf or t in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        if 0xa0 <= t <= 0xbf:
            n = t & 0x1f
        else:
            w = {0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4}[t]
            n = int.from_bytes(b[i:i + w], "big")
            i += w
        raw = bytes(b[i:i + n])
        if len(raw) != n:
            raise ValueError("truncated str/bin")
        return (raw if t in (0xc4, 0xc5, 0xc6) else raw.decode()), i + n
    if t in (0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3):
        w = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8,
             0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8}[t]
        return int.from_bytes(b[i:i + w], "big",
                              signed=t >= 0xd0), i + w
    if t == 0xc0:
        return None, i
    if t in (0xc2, 0xc3):
        return t == 0xc3, i
    raise ValueError("msgpack type 0x%02x not expected" % t)


def mp_str(s):
    """A string as Consul's user-event handle writes it (go-msgpack with
    WriteExt): fixstr, then str8, then str16."""
    s = s.encode()
    if len(s) < 32:
        return bytes([0xa0 | len(s)]) + s
    if len(s) < 256:
        return b"\xd9" + bytes([len(s)]) + s
    return b"\xda" + struct.pack(">H", len(s)) + s


def mp_bin(b):
    """A []byte under WriteExt: bin8, then bin16."""
    if len(b) < 256:
        return b"\xc4" + bytes([len(b)]) + b
    return b"\xc5" + struct.pack(">H", len(b)) + b


def consul_user_event(ev_id, name, payload=b""):
    """Consul 1.15's UserEvent as agent/user_event.go encodes it for Serf
    (msgpackHandleUserEvent: RawToString, WriteExt): fields in declaration
    order, the empty payload and filters omitted, Version 1."""
    fields = [("ID", mp_str(ev_id)), ("n", mp_str(name))]
    if payload:
        fields.append(("p", mp_bin(payload)))
    fields.append(("v", b"\x01"))
    return bytes([0x80 | len(fields)]) + b"".join(
        mp_str(k) + v for k, v in fields)


# Go's own bytes for that struct (Debian's go-msgpack 0.5.5 with Consul's
# handle) for ID b40083c6-..., Name "dep", Payload "hello": pins the
# encoder above.
GO_USER_EVENT = bytes.fromhex(
    "84a24944d92462343030383363362d306430662d663265352d623935332d3465383830"
    "63316664666238a16ea3646570a170c40568656c6c6fa17601")


# ---------------------------------------------------------------- serf

HANDLER = """#!/bin/sh
# One line per user event: name, Lamport time, payload in base64.
p=$(base64 -w0)
printf '%s %s %s\\n' "$SERF_USER_EVENT" "$SERF_USER_LTIME" "$p" >> {out}
"""


class SerfAgent:
    """One `serf agent` on loopback: gossip on one free port, RPC on
    another, a user-event handler appending to events.txt."""

    def __init__(self, workdir, name, encrypt=None, tags=(), join=None):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.name = name
        self.ports = H.PortSet()
        self.bind = "127.0.0.1:%d" % self.ports["serf_lan"]
        self.rpc = "127.0.0.1:%d" % self.ports["http"]
        self.events_path = os.path.join(self.workdir, "events.txt")
        handler = os.path.join(self.workdir, "handler.sh")
        with open(handler, "w") as f:
            f.write(HANDLER.format(out=self.events_path))
        os.chmod(handler, 0o755)
        self.log_path = os.path.join(self.workdir, "serf.log")
        argv = [SERF, "agent", "-node", name, "-bind", self.bind,
                "-rpc-addr", self.rpc, "-event-handler", "user=" + handler]
        if encrypt:
            argv += ["-encrypt", encrypt]
        for t in tags:
            argv += ["-tag", t]
        if join:
            argv += ["-join", join]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, cwd=self.workdir,
            preexec_fn=H._set_pdeathsig, close_fds=True)

    def wait_ready(self):
        H.poll("serf agent %s answers on its RPC port" % self.name,
               self._answers, 15.0 * S)

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("serf agent %s exited with %s:\n%s" % (
                self.name, self.proc.returncode, self.log_text()))
        return self.cli(["members"]).returncode == 0

    def cli(self, args, timeout=20.0 * S):
        """`serf <command> -rpc-addr=<ours> ARGS...`."""
        return subprocess.run(
            [SERF, args[0], "-rpc-addr=" + self.rpc] + list(args[1:]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=timeout)

    def members(self):
        """{name: member} from `serf members -format json`."""
        r = self.cli(["members", "-format", "json"])
        assert r.returncode == 0, (r.stdout, r.stderr)
        return {m["name"]: m for m in json.loads(r.stdout)["members"]}

    def statuses(self):
        return {n: m["status"] for n, m in self.members().items()}

    def events(self):
        """[(name, ltime, payload bytes)] the handler has written."""
        try:
            with open(self.events_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            f = line.split(" ")
            assert len(f) in (2, 3), line
            p = base64.b64decode(f[2] if len(f) == 3 else "")
            # Serf's handler adds a newline to a payload without one
            # (invoke.go streamPayload); none of ours ends in one.
            if p.endswith(b"\n"):
                p = p[:-1]
            out.append((f[0], int(f[1]), p))
        return out

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill(self):
        """SIGKILL by pid: the machine dies, no leave."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        """SIGINT (Serf's graceful leave), a bounded wait, then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        self.ports.release()


_SERFS = []     # the current test's Serf agents, for failure messages


@pytest.fixture
def serf_factory(tmp_path):
    """serf_factory(name, **kw) -> a started SerfAgent in this test's
    tmp_path; all are stopped by pid at teardown."""
    made = []

    def make(name, **kw):
        a = SerfAgent(tmp_path / ("serf-" + name), name, **kw)
        made.append(a)
        _SERFS.append(a)
        a.wait_ready()
        return a
    yield make
    for a in made:
        a.stop()
        _SERFS.remove(a)


def poll(what, fn, timeout, interval=0.1):
    """H.poll, failing with the Serf agents' log tails (conftest attaches
    lictor's)."""
    try:
        return H.poll(what, fn, timeout, interval)
    except H.HarnessError as ex:
        tails = ["---- serf agent %s (%s) ----\n%s" % (
            a.name, a.log_path, "\n".join(a.log_text().splitlines()[-40:]))
            for a in _SERFS]
        raise AssertionError("\n".join([str(ex)] + tails)) from None


# ---------------------------------------------------------------- lictor

@pytest.fixture(scope="module")
def srv(module_agent_factory):
    """A plain lictor server, shared by the tests that do not kill it."""
    return module_agent_factory(subdir="ls", name="lx-srv").start()


def lictor_members(a):
    r = a.get("/v1/agent/members")
    assert r.status == 200, r
    return {m["Name"]: m for m in r.json()}


def lictor_statuses(a):
    return {n: m["Status"] for n, m in lictor_members(a).items()}


def gossip_stats(a):
    return a.ctl_stats("gossipd")


def gossip_dump(a):
    r = a.ctl(["gossipd", "dump"])
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout.decode()


def alive_on_both(lx, sa):
    """Poll body: lictor and Serf each list both nodes alive."""
    assert lx.running(), lx.log_tail(40)
    assert sa.proc.poll() is None, sa.log_text()
    ls = lictor_statuses(lx)
    ss = sa.statuses()
    return ls.get(sa.name) == 1 and ls.get(lx.name) == 1 and \
        ss.get(lx.name) == "alive" and ss.get(sa.name) == "alive"


def keygen():
    r = subprocess.run([H.LICTOR, "keygen"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    assert r.returncode == 0, r
    key = r.stdout.decode().strip()
    assert len(base64.b64decode(key)) == 32, key
    return key


# ---------------------------------------------------------------- tests

def test_user_event_encoder_is_consuls():
    assert consul_user_event("b40083c6-0d0f-f2e5-b953-4e880c1fdfb8", "dep",
                             b"hello") == GO_USER_EVENT
    assert mp_decode(GO_USER_EVENT) == {
        "ID": "b40083c6-0d0f-f2e5-b953-4e880c1fdfb8", "n": "dep",
        "p": b"hello", "v": 1}


@pytest.mark.timeout(90)
def test_serf_joins_lictor_and_both_see_tags(srv, serf_factory):
    sa = serf_factory("sj1", tags=["app=web", "rack=r1"], join=srv.serf_addr)
    poll("both alive on both", lambda: alive_on_both(srv, sa), SETTLE)

    # Serf's view of lictor: Consul's tags exactly as lictor lists itself,
    # the gossip address, and Consul's Serf protocol (2..5, speaking 4).
    own = lictor_members(srv)[srv.name]
    sm = sa.members()
    lx = sm[srv.name]
    assert lx["addr"] == srv.serf_addr, lx
    assert lx["port"] == srv.ports["serf_lan"], lx
    assert lx["tags"] == own["Tags"], (lx["tags"], own["Tags"])
    t = lx["tags"]
    assert t["role"] == "consul" and t["dc"] == "dc1", t
    assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}",
                        t["id"]), t
    assert t["build"].startswith("1.15.0"), t
    assert (t["vsn"], t["vsn_min"], t["vsn_max"]) == ("2", "2", "3"), t
    assert t["port"] == str(srv.server_port), t
    assert t["raft_vsn"] == "3" and t["bootstrap"] == "1", t
    assert lx["protocol"] == {"min": 2, "max": 5, "version": 4}, lx

    # lictor's view of Serf: its tags and no others, its address, and the
    # protocol versions Serf itself reports.
    m = lictor_members(srv)[sa.name]
    assert m["Tags"] == {"app": "web", "rack": "r1"}, m
    assert (m["Addr"], m["Port"]) == ("127.0.0.1", sa.ports["serf_lan"]), m
    proto = sm[sa.name]["protocol"]
    assert (m["DelegateMin"], m["DelegateMax"], m["DelegateCur"]) == (
        proto["min"], proto["max"], proto["version"]), (m, proto)
    assert (m["ProtocolMin"], m["ProtocolMax"], m["ProtocolCur"]) == \
        (1, 5, 2), m
    # `lictor members` (Consul's table) lists it too.
    r = srv.cli(["members"], words=1)
    assert r.returncode == 0, r
    row = [l for l in r.stdout.decode().splitlines()
           if l.split()[:1] == [sa.name]]
    assert len(row) == 1 and row[0].split()[1:3] == [sa.bind, "alive"], \
        r.stdout


@pytest.mark.timeout(90)
def test_lictor_joins_serf(srv, serf_factory):
    # `lictor join` (the CLI, Consul's text) ...
    s1 = serf_factory("lj1", tags=["app=db"])
    r = srv.cli(["join", s1.bind], words=1)
    assert r.returncode == 0, r
    assert r.stdout == b"Successfully joined cluster by contacting 1 " \
        b"nodes.\n", r
    poll("both alive on both", lambda: alive_on_both(srv, s1), SETTLE)
    assert lictor_members(srv)[s1.name]["Tags"] == {"app": "db"}
    assert s1.members()[srv.name]["tags"]["role"] == "consul"
    # ... and PUT /v1/agent/join/<addr>, to a second Serf agent that then
    # learns of the first through lictor.
    s2 = serf_factory("lj2")
    r = srv.put("/v1/agent/join/" + s2.bind)
    assert r.status == 200, r
    poll("the second Serf agent alive on both",
         lambda: alive_on_both(srv, s2), SETTLE)
    poll("the Serf agents see each other through lictor",
         lambda: s2.statuses().get(s1.name) == "alive" and
         s1.statuses().get(s2.name) == "alive", SETTLE)


@pytest.mark.timeout(90)
def test_lictor_event_reaches_serf_once(srv, serf_factory):
    sa = serf_factory("ev1")
    r = sa.cli(["join", srv.serf_addr])
    assert r.returncode == 0, (r.stdout, r.stderr)
    poll("both alive on both", lambda: alive_on_both(srv, sa), SETTLE)

    r = srv.cli(["event", "-name", "deploy", "v1.2.3"], words=1)
    assert r.returncode == 0, r
    m = re.fullmatch(rb"Event ID: ([0-9a-f-]{36})\n", r.stdout)
    assert m, r.stdout
    ev_id = m.group(1).decode()

    def arrived(name):
        return [e for e in sa.events() if e[0] == name]
    got = poll("consul:event:deploy at the Serf agent",
               lambda: arrived("consul:event:deploy"), SETTLE)
    # Consul's UserEvent, msgpack-encoded as go-msgpack does (filters
    # omitted when empty).
    ue = mp_decode(got[0][2])
    assert ue == {"ID": ev_id, "n": "deploy", "p": b"v1.2.3", "v": 1}, ue
    # Byte for byte what Consul 1.15 sends.
    assert got[0][2] == consul_user_event(ev_id, "deploy", b"v1.2.3"), \
        got[0][2].hex()
    # The Lamport time Serf saw is the one lictor lists.
    r = srv.get("/v1/event/list?name=deploy")
    lst = [e for e in r.json() if e["ID"] == ev_id]
    assert len(lst) == 1 and lst[0]["LTime"] == got[0][1], (lst, got)

    # A later event arrives after it; by then the first has been
    # delivered once only.
    r = srv.cli(["event", "-name", "after", "x"], words=1)
    assert r.returncode == 0, r
    poll("consul:event:after at the Serf agent",
         lambda: arrived("consul:event:after"), SETTLE)
    assert len(arrived("consul:event:deploy")) == 1, sa.events()
    assert len(arrived("consul:event:after")) == 1, sa.events()


@pytest.mark.timeout(90)
def test_serf_events_reach_lictor(srv, serf_factory):
    sa = serf_factory("ev2")
    r = sa.cli(["join", srv.serf_addr])
    assert r.returncode == 0, (r.stdout, r.stderr)
    poll("both alive on both", lambda: alive_on_both(srv, sa), SETTLE)
    before = gossip_stats(srv)["lan.events_in"]

    # A plain Serf event: in gossipd's dump and counted, not a Consul event.
    r = sa.cli(["event", "serf-deploy", "hello"])
    assert r.returncode == 0, (r.stdout, r.stderr)
    line = poll("the Serf event in lictor's gossip dump",
                lambda: re.search(r"^lan event serf-deploy ltime (\d+) "
                                  r"payload 5$", gossip_dump(srv), re.M),
                SETTLE)
    assert int(line.group(1)) >= 1
    assert gossip_stats(srv)["lan.events_in"] >= before + 1
    # Its own handler saw it too: the same Lamport time.
    mine = poll("the event at its own Serf agent",
                lambda: [e for e in sa.events()
                         if e[0] == "serf-deploy"], SETTLE)
    assert mine[0][1] == int(line.group(1)) and mine[0][2] == b"hello"

    # A Consul event fired through Serf: lictor lists it.
    ev_id = "0b5e1c4a-6f1e-4c59-9d1e-3f5a2b7c8d9e"
    payload = consul_user_event(ev_id, "from-serf", b"via serf")
    r = subprocess.run([SERF, "event", "-rpc-addr=" + sa.rpc,
                        "-coalesce=false", "consul:event:from-serf",
                        payload], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20 * S)
    assert r.returncode == 0, (r.stdout, r.stderr)

    def listed():
        r = srv.get("/v1/event/list?name=from-serf")
        return [e for e in r.json() if e["ID"] == ev_id]
    got = poll("the Consul event from Serf in /v1/event/list", listed,
               SETTLE)
    assert len(got) == 1 and got[0]["Name"] == "from-serf", got
    assert H.unb64(got[0]["Payload"]) == b"via serf", got
    assert got[0]["LTime"] >= 1 and got[0]["Version"] == 1, got
    # The plain one never became a Consul event.
    names = {e["Name"] for e in srv.get("/v1/event/list").json()}
    assert "serf-deploy" not in names and \
        not any(n.startswith("consul:") for n in names), names


@pytest.mark.timeout(120)
def test_serf_agent_killed_is_failed_on_lictor(agent_factory, serf_factory):
    # A pool of exactly two (see DETECT): no confirmations to wait for.
    lx = agent_factory(subdir="lk", name="lx-watch", client=True)
    lx.start(wait="http")
    sa = serf_factory("kill1")
    r = lx.put("/v1/agent/join/" + sa.bind)
    assert r.status == 200, r
    poll("both alive on both", lambda: alive_on_both(lx, sa), SETTLE)
    t0 = time.monotonic()
    sa.kill()
    poll("the killed Serf agent failed on lictor",
         lambda: lictor_statuses(lx).get(sa.name) == 4, DETECT,
         interval=0.05)
    took = time.monotonic() - t0
    print("SIGKILLed serf agent failed on lictor after %.1f s" % took)
    # Not before the suspicion timeout: lictor suspects before it
    # declares dead, as memberlist does.
    assert took >= SUSPICION_MIN, took
    assert lx.running()
    assert lictor_statuses(lx)[lx.name] == 1


@pytest.mark.timeout(150)
def test_lictor_agent_crashed_is_failed_on_serf(agent_factory,
                                                serf_factory):
    lx = agent_factory(subdir="lc", name="lx-crash", client=True)
    lx.start(wait="http")
    sa = serf_factory("watch", join=lx.serf_addr)
    poll("both alive on both", lambda: alive_on_both(lx, sa), SETTLE)
    t0 = time.monotonic()
    lx.crash()
    poll("the crashed lictor agent failed on Serf",
         lambda: sa.statuses().get(lx.name) == "failed", DETECT,
         interval=0.05)
    print("crashed lictor agent failed on serf after %.1f s"
          % (time.monotonic() - t0))
    assert sa.statuses()[sa.name] == "alive"


@pytest.fixture(scope="module")
def enc(module_agent_factory):
    """A lictor client agent with a key from `lictor keygen`."""
    key = keygen()
    a = module_agent_factory(subdir="le", name="lx-enc", client=True,
                             extra_args=["-encrypt", key])
    a.start(wait="http")
    a.key = key
    return a


@pytest.mark.timeout(90)
def test_encrypted_same_key_joins(enc, serf_factory):
    sa = serf_factory("key-ok", encrypt=enc.key)
    r = sa.cli(["join", enc.serf_addr])
    assert r.returncode == 0, (r.stdout, r.stderr)
    poll("both alive on both", lambda: alive_on_both(enc, sa), SETTLE)
    # Events flow under the key both ways.
    r = sa.cli(["event", "enc-ping", "p"])
    assert r.returncode == 0, (r.stdout, r.stderr)
    poll("the Serf event at lictor",
         lambda: "lan event enc-ping ltime" in gossip_dump(enc), SETTLE)
    r = enc.cli(["event", "-name", "enc-pong"], words=1)
    assert r.returncode == 0, r
    poll("the Consul event at Serf",
         lambda: [e for e in sa.events()
                  if e[0] == "consul:event:enc-pong"], SETTLE)
    # The Serf agent leaves: lictor lists it left (an encrypted leave).
    sa.stop()
    poll("the Serf agent left on lictor",
         lambda: lictor_statuses(enc).get(sa.name) == 3, SETTLE)


def refused_both_ways(lx, sa, why):
    """The join fails from each side; each member list holds only its own
    node; lictor counted the other side's traffic as undecryptable or a
    bad stream, and Serf logged that it could not read ours."""
    before = gossip_stats(lx)
    known = lictor_statuses(lx)
    r = sa.cli(["join", lx.serf_addr])
    assert r.returncode != 0, (why, r.stdout, r.stderr)
    assert b"Error joining the cluster" in r.stdout + r.stderr, r

    def counted():
        st = gossip_stats(lx)
        return sum(st[k] - before[k] for k in (
            "lan.packets_decrypt_failed", "lan.streams_bad"))
    poll("%s: lictor counted the Serf agent's join as bad" % why,
         counted, 10.0 * S)
    r = lx.put("/v1/agent/join/" + sa.bind)
    assert r.status == 500, (why, r)
    poll("%s: Serf could not read lictor's push/pull" % why,
         lambda: re.search(r"memberlist: failed to receive: .*(crypt|"
                           r"Encryption|key)", sa.log_text()), 10.0 * S)
    assert lictor_statuses(lx) == known, (why, known, lictor_statuses(lx))
    assert sa.name not in known, (why, known)
    assert set(sa.statuses()) == {sa.name}, (why, sa.statuses())


@pytest.mark.timeout(90)
def test_encrypted_wrong_key_refused(enc, serf_factory):
    other = keygen()
    assert other != enc.key
    sa = serf_factory("key-bad", encrypt=other)
    refused_both_ways(enc, sa, "wrong key")


@pytest.mark.timeout(90)
def test_encrypted_lictor_plain_serf_refused(enc, serf_factory):
    sa = serf_factory("key-none")
    refused_both_ways(enc, sa, "lictor encrypted, Serf not")


@pytest.mark.timeout(90)
def test_plain_lictor_encrypted_serf_refused(agent_factory, serf_factory):
    lx = agent_factory(subdir="lp", name="lx-plain", client=True)
    lx.start(wait="http")
    sa = serf_factory("key-only", encrypt=keygen())
    refused_both_ways(lx, sa, "Serf encrypted, lictor not")
