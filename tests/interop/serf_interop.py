#!/usr/bin/python3
"""Serf layer interop: tests/interop/serf_node (gossipd/serf + gossipd/core
over proto's framing, no daemon) against real Go Serf nodes (serfpeer from
tools/serf-peer, Debian's serf 0.9.4 / memberlist 0.2.2).

Usage: serf_interop.py SERF_NODE SERFPEER [BASE_IP]
Three nodes on loopback: goA, then ours joining goA, then goB joining us
(so we both initiate and serve push/pulls). Checks, each with a deadline:
members and tags both ways, user events exactly once both ways, queries
both ways (acks and responses), a tag update, a Go node's graceful leave
seen as left, a Go node's crash seen as failed then force-left (Go sees
the leave), our crash seen as failed by Go, and our leave seen as left.
Then, with encryption, a real `serf agent` and `serf keys`: a new key
installed, listed, made primary and the old one removed across both
nodes (our answers to Serf's key queries), traffic still flowing.
Every process is ours, bounded by -max-runtime, and killed by pid at the
end. Prints "N passed, N failed"."""

import json
import os
import queue
import subprocess
import sys
import threading
import time

BASE = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.61"
PREFIX = BASE.rsplit(".", 1)[0]
LAST = int(BASE.rsplit(".", 1)[1])
IP = {"goA": BASE, "lictor": "%s.%d" % (PREFIX, LAST + 1),
      "goB": "%s.%d" % (PREFIX, LAST + 2),
      "goC": "%s.%d" % (PREFIX, LAST + 3),
      "lictor2": "%s.%d" % (PREFIX, LAST + 4),
      "goK": "%s.%d" % (PREFIX, LAST + 5),
      "lictorK": "%s.%d" % (PREFIX, LAST + 6)}
RPC = "127.0.0.1:%d" % (17373 + LAST)
K1 = "yXVVKeqDuG2qlFpGB9T9/Q2jw7EB/tjJ7WUmsPYELGk="
K2 = "8W0G0T5nNjJn4NcSQ+FAWkGZrEL6M3x1DwT3pYmKqS0="
PORT = 7946


class Proc:
    def __init__(self, name, argv, is_go):
        self.name, self.is_go = name, is_go
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            line = line.strip()
            if not line:
                continue
            if self.is_go:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
            else:
                parts = line.split(" ")
                ev = {"ev": parts[0], "args": parts[1:]}
            self.q.put(ev)

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def wait(self, pred, timeout, what):
        end = time.time() + timeout
        for ev in self.seen:
            if pred(ev):
                return ev
        while time.time() < end:
            try:
                ev = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            self.seen.append(ev)
            if pred(ev):
                return ev
        raise AssertionError("%s: %s not seen in %.0f s" %
                             (self.name, what, timeout))

    def drain(self, secs):
        end = time.time() + secs
        while time.time() < end:
            try:
                self.seen.append(self.q.get(timeout=0.05))
            except queue.Empty:
                pass

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def go_member(ev, name, evtype):
    return ev.get("ev") == evtype and any(
        m["name"] == name for m in ev.get("members", []))


def our_member(ev, name, evtype):
    return ev["ev"] == evtype and ev["args"][:1] == [name]


def tags_of(ev):
    out = {}
    for kv in ev["args"][2].split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            out[k] = v
    return out


def main():
    serf_node, serfpeer = sys.argv[1], sys.argv[2]
    passed, failed = 0, 0
    procs = []

    def go(name, join=None, tags=""):
        argv = [serfpeer, "-name", name, "-bind", IP[name], "-port",
                str(PORT), "-max-runtime", "90s", "-tags", tags]
        if join:
            argv += ["-join", join]
        p = Proc(name, argv, True)
        procs.append(p)
        return p

    def check(what, fn):
        nonlocal passed, failed
        try:
            fn()
            passed += 1
            print("ok   %s" % what, flush=True)
        except AssertionError as e:
            failed += 1
            print("FAIL %s: %s" % (what, e), flush=True)

    try:
        a = go("goA", tags="role=web,dc=dc1")
        a.wait(lambda e: e.get("ev") == "ready", 10, "ready")
        us = Proc("lictor", [serf_node, "-name", "lictor", "-bind",
                             IP["lictor"], "-port", str(PORT), "-tags",
                             "role=node,dc=dc1,id=abc", "-join",
                             "%s:%d" % (IP["goA"], PORT),
                             "-max-runtime", "90"], False)
        procs.append(us)
        # goB joins through our node: wait until it listens and has
        # joined (slow to start under the sanitizers).
        us.wait(lambda e: e.get("ev") == "done" and
                e.get("args", [""])[0] == "join", 30, "done join")
        b = go("goB", join="%s:%d" % (IP["lictor"], PORT),
               tags="role=db,dc=dc1")

        def members():
            for n in ("goA", "goB"):
                ev = us.wait(lambda e: our_member(e, n, "member-join"), 15,
                             "member-join %s" % n)
                assert ev["args"][1] == "alive"
                want = {"goA": "web", "goB": "db"}[n]
                assert tags_of(ev).get("role") == want, ev
                assert ev["args"][3] == "vsn=1,5,2,2,5,4", ev
            for p in (a, b):
                ev = p.wait(lambda e: go_member(e, "lictor", "member-join"),
                            15, "member-join lictor")
                m = [m for m in ev["members"] if m["name"] == "lictor"][0]
                assert m["tags"] == {"role": "node", "dc": "dc1",
                                     "id": "abc"}, m
                assert m["vsn"] == [1, 5, 2, 2, 5, 4], m
        check("members and tags both ways", members)
        us.wait(lambda e: e["ev"] == "done" and e["args"][0] == "join", 10,
                "join done")

        def events_from_us():
            us.send("event deploy v1")
            for p in (a, b):
                p.wait(lambda e: e.get("ev") == "user" and
                       e["name"] == "deploy" and e["payload"] == "v1", 10,
                       "user event")
            time.sleep(3)
            for p in (a, b):
                p.drain(0.2)
                n = sum(1 for e in p.seen if e.get("ev") == "user" and
                        e["name"] == "deploy")
                assert n == 1, "%s got it %d times" % (p.name, n)
        check("user event from us, exactly once", events_from_us)

        def events_to_us():
            a.send("event restart now")
            us.wait(lambda e: e["ev"] == "user" and
                    e["args"][:2] == ["restart", "now"], 10, "user event")
            time.sleep(3)
            us.drain(0.2)
            n = sum(1 for e in us.seen if e["ev"] == "user" and
                    e["args"][0] == "restart")
            assert n == 1, n
        check("user event from Go, exactly once", events_to_us)

        def query_from_us():
            us.send("query ask hi")
            for n in ("goA", "goB", "lictor"):
                us.wait(lambda e: e["ev"] == "ack" and e["args"] == [n], 10,
                        "ack %s" % n)
                us.wait(lambda e: e["ev"] == "response" and
                        e["args"][0] == n, 10, "response %s" % n)
            ev = [e for e in us.seen if e["ev"] == "response" and
                  e["args"][0] == "goA"][0]
            assert ev["args"][1] == "goA:hi", ev
            us.wait(lambda e: e["ev"] == "query-done", 10, "query-done")
        check("query from us: acks and responses from Go", query_from_us)

        def query_to_us():
            a.send("query ping2 x")
            us.wait(lambda e: e["ev"] == "query" and
                    e["args"][:2] == ["ping2", "x"], 10, "query")
            a.wait(lambda e: e.get("ev") == "query-ack" and
                   e["from"] == "lictor", 10, "ack from lictor")
            ev = a.wait(lambda e: e.get("ev") == "query-response" and
                        e["from"] == "lictor", 10, "response from lictor")
            assert ev["payload"] == "lictor:x", ev
        check("query from Go: our ack and response", query_to_us)

        def tag_update():
            us.send("tags role=node,dc=dc1,id=abc,extra=1")
            ev = a.wait(lambda e: go_member(e, "lictor", "member-update"),
                        10, "member-update lictor")
            m = [m for m in ev["members"] if m["name"] == "lictor"][0]
            assert m["tags"].get("extra") == "1", m
            us.wait(lambda e: e["ev"] == "done" and e["args"][0] == "tags",
                    10, "tags done")
        check("tag update reaches Go", tag_update)

        def go_leaves():
            b.send("leave")
            us.wait(lambda e: our_member(e, "goB", "member-leave"), 15,
                    "member-leave goB")
            assert not any(our_member(e, "goB", "member-failed")
                           for e in us.seen)
            us.send("members")
            us.wait(lambda e: e["ev"] == "members-end", 5, "members")
            st = {e["args"][0]: e["args"][1] for e in us.seen
                  if e["ev"] == "member"}
            assert st.get("goB") == "left", st
        check("Go node leaves: left, not failed", go_leaves)

        def go_crashes():
            c = go("goC", join="%s:%d" % (IP["lictor"], PORT))
            us.wait(lambda e: our_member(e, "goC", "member-join"), 15,
                    "member-join goC")
            a.wait(lambda e: go_member(e, "goC", "member-join"), 15,
                   "goA sees goC")
            c.kill()
            us.wait(lambda e: our_member(e, "goC", "member-failed"), 30,
                    "member-failed goC")
            us.send("force-leave goC")
            us.wait(lambda e: our_member(e, "goC", "member-leave"), 10,
                    "member-leave goC (forced)")
            a.wait(lambda e: go_member(e, "goC", "member-leave"), 30,
                   "goA sees goC leave")
        check("Go node crashes: failed, then force-left everywhere",
              go_crashes)

        def we_crash():
            us2 = Proc("lictor2", [serf_node, "-name", "lictor2", "-bind",
                                   IP["lictor2"], "-port", str(PORT),
                                   "-join", "%s:%d" % (IP["goA"], PORT),
                                   "-max-runtime", "60"], False)
            procs.append(us2)
            a.wait(lambda e: go_member(e, "lictor2", "member-join"), 15,
                   "member-join lictor2")
            us.wait(lambda e: our_member(e, "lictor2", "member-join"), 15,
                    "lictor sees lictor2")
            us2.kill()
            a.wait(lambda e: go_member(e, "lictor2", "member-failed"), 30,
                   "member-failed lictor2")
            us.wait(lambda e: our_member(e, "lictor2", "member-failed"), 30,
                    "lictor sees lictor2 failed")
        check("our node crashes: Go and we mark it failed", we_crash)

        def we_leave():
            # Only what Go sees from the leave on: on a loaded machine
            # (CI runs this beside the integration tests) Go may have
            # suspected and failed our node for a moment earlier, and
            # seen it rejoin; that is the failure detector's business,
            # not the leave's.
            a.drain(0.2)
            since = len(a.seen)
            us.send("leave")
            us.wait(lambda e: e["ev"] == "done" and e["args"][0] == "leave",
                    15, "leave done")
            done = [e for e in us.seen if e["ev"] == "done" and
                    e["args"][0] == "leave"][0]
            assert done["args"][1] == "0", "leave answered %r" % done
            a.wait(lambda e: go_member(e, "lictor", "member-leave"), 15,
                   "member-leave lictor")
            a.drain(1.0)
            failed = [e for e in a.seen[since:]
                      if go_member(e, "lictor", "member-failed")]
            assert not failed, "Go saw our leave as a failure: %r (all " \
                "Go's events about us: %r)" % (failed, [
                    e["ev"] for e in a.seen if any(
                        m["name"] == "lictor" for m in e.get("members", []))])
        check("we leave: Go sees left, not failed", we_leave)

        serf = os.path.join(os.path.dirname(serfpeer), "serf")
        if not os.path.exists(serf):
            print("skip key rotation: no %s" % serf)
        else:
            def keys():
                agent = subprocess.Popen(
                    [serf, "agent", "-node", "goK", "-bind",
                     "%s:%d" % (IP["goK"], PORT), "-rpc-addr", RPC,
                     "-encrypt", K1, "-log-level", "warn"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                procs.append(type("P", (), {"kill": lambda self=None: (
                    agent.kill(), agent.wait())})())
                time.sleep(1.0)
                usk = Proc("lictorK", [serf_node, "-name", "lictorK",
                                       "-bind", IP["lictorK"], "-port",
                                       str(PORT), "-encrypt", K1, "-join",
                                       "%s:%d" % (IP["goK"], PORT),
                                       "-max-runtime", "60"], False)
                procs.append(usk)
                usk.wait(lambda e: our_member(e, "goK", "member-join"), 15,
                         "member-join goK (encrypted)")

                def serf_cmd(*args):
                    # Go's flag package stops at the first argument.
                    r = subprocess.run([serf, args[0], "-rpc-addr", RPC] +
                                       list(args[1:]),
                                       capture_output=True, text=True,
                                       timeout=30)
                    return r.returncode, r.stdout + r.stderr
                rc, out = serf_cmd("keys", "-install", K2)
                assert rc == 0, out
                rc, out = serf_cmd("keys", "-list")
                assert rc == 0, out
                lines = [l.split() for l in out.splitlines()]
                assert [K1, "[2/2]"] in lines and [K2, "[2/2]"] in lines, out
                rc, out = serf_cmd("keys", "-use", K2)
                assert rc == 0, out
                rc, out = serf_cmd("keys", "-remove", K1)
                assert rc == 0, out
                rc, out = serf_cmd("keys", "-list")
                assert rc == 0 and K1 not in out, out
                rc, out = serf_cmd("event", "rotated", "yes")
                assert rc == 0, out
                usk.wait(lambda e: e["ev"] == "user" and
                         e["args"][:2] == ["rotated", "yes"], 15,
                         "event under the new key")
                rc, out = serf_cmd("members")
                assert "lictorK" in out and "alive" in out, out
                assert not any(our_member(e, "goK", "member-failed")
                               for e in usk.seen)
            check("key rotation with serf keys (install, list, use, "
                  "remove)", keys)
    finally:
        for p in procs:
            p.kill()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
