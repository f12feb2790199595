"""`lictor members|join|force-leave|event|keygen` against real agents:
Consul 1.15's texts, streams (Ui.Output on stdout, Ui.Error on stderr)
and exit codes, byte for byte.

One server (-bootstrap) and two client agents, joined to each other with
`lictor join`; then the members table on every agent (Consul's columns
and spacing, servers first, "<all>" and "<default>" segments), -status
and -detailed, the WAN pool, an event fired with `lictor event` read back
from /v1/event/list on other agents, and `lictor force-leave` of a
SIGKILLed client (failed, then left, then -prune'd away). keygen and the
usage errors need no agent.
"""

import base64
import os
import re
import socket
import subprocess

import pytest

import lictor_harness as H

S = H.SLOW
# A SIGKILLed member is failed everywhere within memberlist's LAN
# suspicion bounds; 60 s covers them (as test_gossip_agents.py does).
DETECT = 60.0 * S
SETTLE = 40.0 * S


def run(args, timeout=30.0 * S):
    """`lictor ARGS` with no agent address added and none in the
    environment."""
    env = dict(os.environ)
    for k in ("CONSUL_HTTP_ADDR", "LICTOR_HTTP_ADDR", "CONSUL_HTTP_TOKEN",
              "LICTOR_HTTP_TOKEN"):
        env.pop(k, None)
    return subprocess.run([H.LICTOR] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=timeout)


def cli(agent, *args, **kw):
    """`lictor <command> -http-addr=<agent> ARGS`."""
    return agent.cli(list(args), words=1, **kw)


def ok(r, stdout):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.decode() == stdout, (r.stdout, r.stderr)
    assert r.stderr == b"", r.stderr


def err(r, stderr, code=1):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.decode() == stderr, (r.stdout, r.stderr)
    assert r.stdout == b"", r.stdout


def dead_addr():
    """A loopback port nothing listens on (TCP or UDP) right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


def columnize(lines):
    """ryanuber/columnize as Consul calls it: fields split at \\x1f and
    trimmed, every cell but a line's last padded to its column's widest,
    glued by two spaces, no newline after the last line."""
    rows = [[f.strip() for f in l.split("\x1f")] for l in lines]
    width = {}
    for r in rows:
        for i, f in enumerate(r):
            width[i] = max(width.get(i, 0), len(f))
    out = []
    for r in rows:
        cells = [f if i == len(r) - 1 else f.ljust(width[i]) + "  "
                 for i, f in enumerate(r)]
        out.append("".join(cells))
    return "\n".join(out)


HEADER = "Node\x1fAddress\x1fStatus\x1fType\x1fBuild\x1fProtocol\x1fDC" \
    "\x1fPartition\x1fSegment"
STATUS = {0: "none", 1: "alive", 2: "leaving", 3: "left", 4: "failed"}


def require_running(*agents):
    """Inside a poll: an agent that exited fails the test at once, and
    says how (a poll against it would only time out)."""
    for a in agents:
        if not a.running():
            raise AssertionError("agent %s exited (code %r) during the "
                                 "test:\n%s" % (a.name, a.exit_code if
                                                a.proc is None else
                                                a.proc.returncode,
                                                a.log_tail(40)))


def api_members(a, wan=False):
    r = a.get("/v1/agent/members" + ("?wan=1" if wan else ""))
    assert r.status == 200, r
    return r.json()


def expected_table(members, detailed=False):
    """Consul 1.15's `consul members` output (OSS, default -segment) for a
    /v1/agent/members answer, written from Consul's rules: Type from the
    role tag, Build before the ':', servers first then by name."""
    ms = []
    for m in members:
        t = dict(m["Tags"])
        if not t.get("partition"):
            t["partition"] = "default"
        if t.get("role") == "consul":
            t["segment"] = "<all>"
        elif not t.get("segment"):
            t["segment"] = "<default>"
        ms.append((m, t))
    ms.sort(key=lambda x: (x[1].get("role") != "consul", x[1]["segment"],
                           x[1]["partition"], x[0]["Name"].encode()))
    if detailed:
        lines = ["Node\x1fAddress\x1fStatus\x1fTags"]
        for m, t in ms:
            tags = ",".join("%s=%s" % (k, t[k]) for k in sorted(t))
            lines.append("\x1f".join([m["Name"], "%s:%d" % (
                m["Addr"], m["Port"]), STATUS[m["Status"]], tags]))
        return columnize(lines) + "\n"
    lines = [HEADER]
    for m, t in ms:
        kind = {"consul": "server", "node": "client"}[t["role"]]
        lines.append("\x1f".join([
            m["Name"], "%s:%d" % (m["Addr"], m["Port"]), STATUS[m["Status"]],
            kind, t["build"].split(":")[0], t["vsn"], t["dc"],
            t["partition"], t["segment"]]))
    return columnize(lines) + "\n"


@pytest.fixture(scope="module")
def pool(module_agent_factory):
    srv = module_agent_factory(subdir="cgs", name="cg-srv").start()
    c1 = module_agent_factory(subdir="cg1", name="cg-c1", client=True)
    c1.start(wait="http")
    c2 = module_agent_factory(subdir="cg2", name="cg-c2", client=True)
    c2.start(wait="http")
    # The joins are the first thing test_join checks.
    j1 = cli(c1, "join", srv.serf_addr)
    j2 = cli(c2, "join", srv.serf_addr, c1.serf_addr)
    everyone = [srv, c1, c2]
    names = {a.name for a in everyone}

    def all_alive():
        require_running(*everyone)
        for a in everyone:
            st = {m["Name"]: m["Status"] for m in api_members(a)}
            if set(st) != names or set(st.values()) != {1}:
                return None
        return True
    H.poll("3 members alive on every agent", all_alive, SETTLE)
    return {"srv": srv, "c1": c1, "c2": c2, "all": everyone,
            "joins": (j1, j2)}


# ---------------------------------------------------------- no agent

def test_keygen():
    keys = set()
    for _ in range(3):
        r = run(["keygen"])
        assert r.returncode == 0 and r.stderr == b"", r
        out = r.stdout.decode()
        assert out.endswith("\n") and out.count("\n") == 1, out
        assert re.fullmatch(r"[A-Za-z0-9+/]{43}=\n", out), out
        assert len(base64.b64decode(out[:-1], validate=True)) == 32
        keys.add(out)
    assert len(keys) == 3, keys
    # Arguments after the flags are ignored, as by Consul.
    r = run(["keygen", "extra"])
    assert r.returncode == 0 and len(base64.b64decode(r.stdout)) == 32, r
    r = run(["keygen", "-h"])
    assert r.returncode == 0 and r.stdout == b"", r
    assert r.stderr.decode() == (
        "Usage: lictor keygen\n\n"
        "  Generates a new 32-byte encryption key that can be used to "
        "configure the\n"
        "  agent to encrypt traffic. The output of this command is already\n"
        "  in the proper format that the agent expects.\n"), r.stderr
    r = run(["keygen", "-bogus"])
    assert r.returncode == 1 and r.stdout == b"", r
    assert r.stderr.startswith(b"flag provided but not defined: -bogus\n")


def test_usage_errors():
    r = run(["join"])
    assert r.returncode == 1 and r.stdout == b"", r
    assert r.stderr.decode().startswith(
        "At least one address to join must be specified.\n\n"
        "Usage: lictor join [options] address ...\n\n"
        "  Tells a running lictor agent (with \"lictor agent\") to join the "
        "cluster\n  by specifying at least one existing member.\n\n"
        "HTTP API Options\n"), r.stderr
    assert "  -wan\n     Joins a server to another server in the WAN pool.\n" \
        in r.stderr.decode()
    for args in (["force-leave"], ["force-leave", "a", "b"]):
        r = run(args)
        assert r.returncode == 1 and r.stdout == b"", r
        assert r.stderr.decode().startswith(
            "A single node name must be specified to force leave.\n\n"
            "Usage: lictor force-leave [options] name\n"), r.stderr
    r = run(["event"])
    assert r.returncode == 1 and r.stdout == b"", r
    assert r.stderr.decode().startswith(
        "Event name must be specified\n\n"
        "Usage: lictor event [options] [payload]\n"), r.stderr
    r = run(["event", "-name=x", "a", "b"])
    assert r.returncode == 1 and r.stdout == b"", r
    assert r.stderr.decode().startswith(
        "Too many command line arguments.\n\n"
        "Usage: lictor event [options] [payload]\n"), r.stderr
    err(run(["event", "-name=x", "-tag=v1"]),
        "Cannot provide tag filter without service filter.\n")
    err(run(["event", "-name=x", "-node=("]),
        "Failed to compile node filter regexp: error parsing regexp: "
        "missing closing ): `(`\n")
    err(run(["members", "-status=("]),
        "Failed to compile status regexp: error parsing regexp: missing "
        "closing ): `(`\n")
    # Help is success, on stderr.
    for cmd in ("members", "join", "force-leave", "event"):
        r = run([cmd, "-help"])
        assert r.returncode == 0 and r.stdout == b"", r
        assert r.stderr.startswith(b"Usage: lictor " + cmd.encode()), r


def test_unreachable_agent():
    addr = dead_addr()
    err(run(["members", "-http-addr=" + addr]),
        "Error retrieving members: Get \"http://%s/v1/agent/members?"
        "segment=_all\": dial tcp %s: connect: connection refused\n"
        % (addr, addr))
    r = run(["join", "-http-addr=" + addr, "1.2.3.4:8301"])
    err(r, "Error joining address '1.2.3.4:8301': Put \"http://%s/v1/agent/"
        "join/1.2.3.4:8301\": dial tcp %s: connect: connection refused\n"
        "Failed to join any nodes.\n" % (addr, addr))
    err(run(["force-leave", "-http-addr=" + addr, "-prune", "n1"]),
        "Error force leaving: Put \"http://%s/v1/agent/force-leave/n1?"
        "prune=1\": dial tcp %s: connect: connection refused\n"
        % (addr, addr))
    err(run(["event", "-http-addr=" + addr, "-name=x"]),
        "Error querying Consul agent: Get \"http://%s/v1/agent/self\": "
        "dial tcp %s: connect: connection refused\n" % (addr, addr))


# ---------------------------------------------------------- agents

def test_join(pool):
    j1, j2 = pool["joins"]
    ok(j1, "Successfully joined cluster by contacting 1 nodes.\n")
    ok(j2, "Successfully joined cluster by contacting 2 nodes.\n")


@pytest.mark.timeout(120)
def test_members_table(pool):
    srv, c1, c2 = pool["srv"], pool["c1"], pool["c2"]
    build = api_members(srv)[0]["Tags"]["build"].split(":")[0]
    assert build, build
    want = columnize([HEADER] + [
        "\x1f".join(x) for x in (
            [srv.name, srv.serf_addr, "alive", "server", build, "2", "dc1",
             "default", "<all>"],
            [c1.name, c1.serf_addr, "alive", "client", build, "2", "dc1",
             "default", "<default>"],
            [c2.name, c2.serf_addr, "alive", "client", build, "2", "dc1",
             "default", "<default>"])]) + "\n"
    for a in pool["all"]:
        ok(cli(a, "members"), want)
    # Computed from the API's answer, by Consul's rules, it is the same.
    assert expected_table(api_members(c1)) == want


def test_members_status_filter(pool):
    srv = pool["srv"]
    full = expected_table(api_members(srv))
    ok(cli(srv, "members", "-status=alive"), full)
    ok(cli(srv, "members", "-status=^(alive|left)$"), full)
    ok(cli(srv, "members", "-status", "l"), full)
    # Nothing matches: no output, exit 2.
    err(cli(srv, "members", "-status=failed"), "", code=2)
    err(cli(srv, "members", "-status=^al$"), "", code=2)
    err(cli(srv, "members", "-detailed", "-status=left"), "", code=2)


def test_members_detailed(pool):
    for a in pool["all"]:
        r = cli(a, "members", "-detailed")
        ok(r, expected_table(api_members(a), detailed=True))
        lines = r.stdout.decode().splitlines()
        assert re.fullmatch(r"Node +Address +Status +Tags", lines[0])
        srv_line = [l for l in lines if l.startswith("cg-srv ")][0]
        assert "role=consul" in srv_line and "segment=<all>" in srv_line
        assert "partition=default" in srv_line
        c_line = [l for l in lines if l.startswith("cg-c1 ")][0]
        assert "role=node" in c_line and "segment=<default>" in c_line


@pytest.mark.timeout(120)
def test_members_wan(pool):
    srv = pool["srv"]
    want_name = srv.name + ".dc1"
    H.poll("the server in its WAN pool",
           lambda: [m for m in api_members(srv, wan=True)
                    if m["Name"] == want_name], SETTLE)
    wan = api_members(srv, wan=True)
    r = cli(srv, "members", "-wan")
    ok(r, expected_table(wan))
    line = r.stdout.decode().splitlines()[1]
    assert line.startswith(want_name + "  " + srv.serf_wan_addr + "  "), line
    assert re.search(r"  alive +server .* dc1 +default +<all>$", line), line
    # A client is in no WAN pool: nothing to list.
    err(cli(pool["c1"], "members", "-wan"), "", code=2)


def test_join_errors(pool):
    c1, srv = pool["c1"], pool["srv"]
    dead = dead_addr()
    r = cli(c1, "join", dead)
    assert r.returncode == 1 and r.stdout == b"", r
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        "Error joining address '%s': Unexpected response code: 500 ("
        % dead), lines
    assert lines[1] == "Failed to join any nodes.", lines
    # One of two is enough: success, and the failure on stderr.
    r = cli(c1, "join", dead, srv.serf_addr)
    assert r.returncode == 0, r
    assert r.stdout == \
        b"Successfully joined cluster by contacting 1 nodes.\n", r
    assert r.stderr.decode().startswith(
        "Error joining address '%s': Unexpected response code: 500 ("
        % dead), r.stderr
    assert r.stderr.count(b"\n") == 1, r.stderr


def events_named(a, name):
    r = a.get("/v1/event/list?name=" + name)
    assert r.status == 200, r
    return r.json()


def wait_event(agents, name, eid):
    def seen():
        require_running(*agents)
        got = []
        for a in agents:
            evs = [e for e in events_named(a, name) if e["ID"] == eid]
            if len(evs) != 1:
                return None
            got.append(evs[0])
        return got
    return H.poll("event %s (%s) on %s" % (name, eid, [a.name for a in
                                                        agents]),
                  seen, 30.0 * S)


EVENT_ID = re.compile(r"Event ID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                      r"[0-9a-f]{4}-[0-9a-f]{12})\n")


@pytest.mark.timeout(120)
def test_event(pool):
    srv, c1, c2 = pool["srv"], pool["c1"], pool["c2"]
    r = cli(c1, "event", "-name=cli-deploy", "v1.2.3")
    assert r.returncode == 0 and r.stderr == b"", r
    m = EVENT_ID.fullmatch(r.stdout.decode())
    assert m, r.stdout
    for e in wait_event([srv, c2, c1], "cli-deploy", m.group(1)):
        assert e["Name"] == "cli-deploy", e
        assert H.unb64(e["Payload"]) == b"v1.2.3", e
        assert e["NodeFilter"] == "" and e["ServiceFilter"] == "", e

    # A node filter (sent query-escaped) reaches the node it names.
    r = cli(srv, "event", "-name=cli-node", "-node=^cg-c2$", "for c2")
    assert r.returncode == 0 and r.stderr == b"", r
    m = EVENT_ID.fullmatch(r.stdout.decode())
    assert m, r.stdout
    e = wait_event([c2], "cli-node", m.group(1))[0]
    assert e["NodeFilter"] == "^cg-c2$", e
    assert H.unb64(e["Payload"]) == b"for c2", e

    # No payload at all, and an empty one: both events carry none.
    for args in (["-name=cli-empty"], ["-name=cli-empty", ""]):
        r = cli(c2, "event", *args)
        assert r.returncode == 0 and r.stderr == b"", r
        m = EVENT_ID.fullmatch(r.stdout.decode())
        assert m, r.stdout
        e = wait_event([srv], "cli-empty", m.group(1))[0]
        assert H.unb64(e.get("Payload")) == b"", e


def member_line(r, name):
    for l in r.stdout.decode().splitlines()[1:]:
        if l.split("  ")[0].strip() == name:
            return l
    return None


@pytest.mark.timeout(300)
def test_force_leave(pool):
    srv, c1, c2 = pool["srv"], pool["c1"], pool["c2"]
    c2.crash()

    def failed_on(a):
        require_running(srv, c1)
        r = cli(a, "members", "-status=failed")
        if r.returncode != 0:
            return None
        line = member_line(r, c2.name)
        return line if line and re.search(r"  failed  ", line) else None
    H.poll("%s failed on %s" % (c2.name, srv.name), lambda: failed_on(srv),
           DETECT)

    ok(cli(srv, "force-leave", c2.name), "")

    def left_on(a):
        require_running(srv, c1)
        r = cli(a, "members", "-status=^left$")
        if r.returncode != 0:
            return None
        return member_line(r, c2.name)
    line = H.poll("%s left on %s" % (c2.name, srv.name),
                  lambda: left_on(srv), 10.0 * S)
    assert line.startswith(c2.name + "  " + c2.serf_addr + "  left  "), line
    H.poll("%s left on %s" % (c2.name, c1.name), lambda: left_on(c1),
           30.0 * S)
    # The full table agrees with the API's view of it.
    ok(cli(srv, "members"), expected_table(api_members(srv)))

    # -prune: out of the list at once.
    ok(cli(srv, "force-leave", "-prune", c2.name), "")

    def gone():
        r = cli(srv, "members")
        return r if r.returncode == 0 and \
            member_line(r, c2.name) is None else None
    r = H.poll("%s pruned on %s" % (c2.name, srv.name), gone, 10.0 * S)
    assert r.stdout.decode() == expected_table(
        [m for m in api_members(srv) if m["Name"] != c2.name])
    assert [m["Name"] for m in api_members(srv)].count(c2.name) == 0
