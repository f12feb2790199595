"""lictor_harness: start real lictor agents on loopback for the integ suite.

An Agent owns one `lictor agent` process (and, through it, the daemons it
supervises): free loopback ports for all five listeners, a scratch
directory of its own, readiness by a bounded poll of /v1/status/leader,
and a teardown that stops exactly the processes it started, by pid.

A Cluster is N such agents as `-server -bootstrap-expect N -retry-join
<first's gossip address>` on ports that stay theirs across restarts (a server's Raft
address is its identity), with bounded polls for one agreed leader, a
configuration of N voters and equal kvd digests; Agent.crash() kills
every process of an agent at once, as a machine dying would.

Only the documented surface is used: the `lictor` binary's agent, ctl and
kv commands and the HTTP API. Nothing here reads lictor's internals except
where the architecture documents them (the run directory's location, as a
fallback to find the IPC sockets).

Runs with Debian's /usr/bin/python3 and its pytest; no other package.
"""

import base64
import fcntl
import glob
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

BUILD_DIR = os.environ.get("LICTOR_BUILD_DIR", "/work/main/build")
LICTOR = os.path.join(BUILD_DIR, "init", "lictor")

# Sanitizer builds are several times slower to start and to stop; stretch
# the bounded waits (never the latency assertions of the tests).
SLOW = 3.0 if os.environ.get("LICTOR_SANITIZED") else 1.0

READY_TIMEOUT = 20.0 * SLOW
STOP_TIMEOUT = 15.0 * SLOW
PORT_NAMES = ("http", "dns", "server", "serf_lan", "serf_wan")
PORT_LOCK_DIR = "/tmp/lictor-integ-ports-%d" % os.getuid()

# Lines in a log that mean a process crashed or a sanitizer complained.
CRASH_PATTERNS = re.compile(
    r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"UndefinedBehaviorSanitizer|Segmentation fault|stack smashing|"
    r"double free|free\(\): invalid|malloc\(\): |Assertion .* failed|"
    r"core dumped)")


class HarnessError(Exception):
    pass


def binaries_present():
    return os.access(LICTOR, os.X_OK)


# ---------------------------------------------------------------- ports

class PortSet:
    """Five loopback ports, each free for TCP and UDP when picked, and held
    against other harness runs by an flock'd file until release()."""

    def __init__(self):
        os.makedirs(PORT_LOCK_DIR, mode=0o700, exist_ok=True)
        self.ports = {}
        self._locks = []
        socks = []
        try:
            while len(self.ports) < len(PORT_NAMES):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
                socks.append(s)
                if port in self.ports.values():
                    continue
                # serf and dns also listen on UDP: the port must be free
                # there as well.
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                finally:
                    u.close()
                lock = self._lock(port)
                if lock is None:
                    continue
                self._locks.append(lock)
                self.ports[PORT_NAMES[len(self.ports)]] = port
        finally:
            for s in socks:
                s.close()

    @staticmethod
    def _lock(port):
        path = os.path.join(PORT_LOCK_DIR, "%d.lock" % port)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # The holder unlinks the file when done: make sure we locked
            # the file that is still at the path, not an unlinked one.
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise OSError("stale lock file")
        except OSError:
            os.close(fd)
            return None
        return (fd, path)

    def release(self):
        for fd, path in self._locks:
            try:
                os.unlink(path)
            except OSError:
                pass
            os.close(fd)
        self._locks = []

    def __getitem__(self, name):
        return self.ports[name]


# ---------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers      # http.client.HTTPMessage (case-insensitive)
        self.body = body            # bytes
        self.elapsed = elapsed      # seconds

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as ex:
            raise AssertionError("response is not JSON (%s): status %d "
                                 "body %r" % (ex, self.status,
                                              self.body[:300]))

    def header(self, name):
        return self.headers.get(name)

    @property
    def index(self):
        v = self.headers.get("X-Consul-Index")
        return int(v) if v is not None else None

    def __repr__(self):
        return "<Resp %d %r %r>" % (self.status, dict(self.headers.items()),
                                    self.body[:200])


def http_request(host, port, method, path, body=None, headers=None,
                 timeout=10.0):
    """One request on a fresh connection; raises OSError-family exceptions
    (ConnectionRefusedError, socket.timeout, ...) as they are."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.reason, r.headers, data,
                    time.monotonic() - t0)
    finally:
        conn.close()


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(s):
    return base64.b64decode(s) if s is not None else b""


# ---------------------------------------------------------------- /proc

def _proc_stat(pid):
    """(ppid, starttime) of a live pid, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(")") + 2:].split()
    if rest[0] == "Z":
        return None
    return int(rest[1]), int(rest[19])


def children_of(pid):
    """{child_pid: starttime} of the live children of pid."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = _proc_stat(int(d))
        if st is not None and st[0] == pid:
            out[int(d)] = st[1]
    return out


def descendants_of(pid):
    out = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        for c, start in children_of(p).items():
            if c not in out:
                out[c] = start
                todo.append(c)
    return out


def pid_alive(pid, starttime=None):
    st = _proc_stat(pid)
    if st is None:
        return False
    return starttime is None or st[1] == starttime


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


try:
    import ctypes
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (ImportError, OSError, AttributeError):
    _prctl = None


def _set_pdeathsig():
    # Runs in the child between fork and exec: no imports, no locks.
    # If the test process dies without tearing down, the agent gets
    # SIGTERM instead of living on (and init passes the same on to its
    # daemons). The signal follows the *thread* that forked, so agents
    # are started from pytest's main thread only.
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM), 0, 0, 0)     # PR_SET_PDEATHSIG


def fnv1a64(s):
    h = 1469598103934665603
    for c in s.encode():
        h ^= c
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


# ---------------------------------------------------------------- agent

class Agent:
    """One `lictor agent` on loopback.

    workdir: a directory owned by this agent (the test's tmp_path or a
    subdirectory of it); data lives in workdir/data unless data_dir is
    given, the log in workdir/agent-<n>.log.
    """

    _serial = 0

    def __init__(self, workdir, name=None, dev=False, data_dir=None,
                 extra_args=(), env=None, datacenter=None, bootstrap=True,
                 fixed_ports=False, client=False):
        Agent._serial += 1
        # client: a Consul client agent (no -server): it gossips and
        # holds no Raft state.
        self.client = client
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.name = name or "integ-%d-%d" % (os.getpid(), Agent._serial)
        self.dev = dev
        self.data_dir = str(data_dir) if data_dir else os.path.join(
            self.workdir, "data")
        self.extra_args = list(extra_args)
        self.env = env
        self.datacenter = datacenter
        # True: -bootstrap; an int N: -bootstrap-expect N; False/None:
        # neither (a server that joins an existing cluster).
        self.bootstrap = bootstrap
        # A cluster member's address is part of its identity: with
        # fixed_ports the ports picked at the first start are kept (and
        # their locks held) for every later start, until close().
        self.fixed_ports = fixed_ports
        self.proc = None
        self.ports = None
        self.log_path = None
        self.log_paths = []
        self._log_file = None
        self._children = {}        # pid -> starttime, every daemon we saw
        self.exit_code = None
        self.starts = 0
        self.leftover = []         # daemons still alive after init exited

    # -- addresses

    @property
    def http_port(self):
        return self.ports["http"]

    @property
    def http_addr(self):
        return "127.0.0.1:%d" % self.http_port

    @property
    def server_port(self):
        return self.ports["server"]

    @property
    def server_addr(self):
        """The address Raft knows this server by (ip:server-port)."""
        return "127.0.0.1:%d" % self.server_port

    @property
    def serf_addr(self):
        """This agent's LAN gossip address (what -join takes)."""
        return "127.0.0.1:%d" % self.ports["serf_lan"]

    @property
    def serf_wan_addr(self):
        return "127.0.0.1:%d" % self.ports["serf_wan"]

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # -- lifecycle

    def argv(self):
        p = self.ports
        a = [LICTOR, "agent"]
        if self.dev:
            a += ["-dev"]
        elif self.client:
            a += ["-data-dir", self.data_dir]
        else:
            a += ["-server"]
            if self.bootstrap is True:
                a += ["-bootstrap"]
            elif self.bootstrap:
                a += ["-bootstrap-expect", str(int(self.bootstrap))]
            a += ["-data-dir", self.data_dir]
        a += ["-node", self.name,
              "-client", "127.0.0.1", "-bind", "127.0.0.1",
              "-http-port", str(p["http"]), "-dns-port", str(p["dns"]),
              "-server-port", str(p["server"]),
              "-serf-lan-port", str(p["serf_lan"]),
              "-serf-wan-port", str(p["serf_wan"])]
        if self.datacenter:
            a += ["-datacenter", self.datacenter]
        return a + self.extra_args

    def start(self, timeout=READY_TIMEOUT, attempts=3, wait="leader"):
        """Start the agent and wait until it is ready: wait="leader" (the
        default) until /v1/status/leader names a leader, "http" until it
        answers at all (a server waiting for its cluster), None not at
        all. A start that lost a port race is retried with new ports
        (not with fixed_ports: the address is the server's identity)."""
        if not binaries_present():
            raise HarnessError("no lictor binary at %s (LICTOR_BUILD_DIR=%s)"
                               % (LICTOR, BUILD_DIR))
        if self.fixed_ports:
            attempts = 1
        last = None
        for _ in range(attempts):
            self._spawn()
            if wait is None:
                return self
            try:
                self.wait_ready(timeout, need_leader=(wait == "leader"))
                return self
            except HarnessError as ex:
                last = ex
                exited = self.proc.poll() is not None
                in_use = re.search(r"(?i)address (already )?in use|"
                                   r"eaddrinuse", self.log_text())
                self.stop()
                if not (exited and in_use):
                    raise
                # Another process took one of our ports between the pick
                # and the bind: pick again.
        raise last

    def reserve_ports(self):
        """Pick the ports now (before start), e.g. to name this server in
        other servers' -retry-join."""
        if self.ports is None:
            self.ports = PortSet()
        return self.ports

    def _spawn(self):
        if self.ports is not None and not self.fixed_ports:
            self.ports.release()
            self.ports = None
        if self.ports is None:
            self.ports = PortSet()
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "agent-%s-%d.log"
                                     % (self.name, self.starts))
        self.log_paths.append(self.log_path)
        self._log_file = open(self.log_path, "ab")
        env = dict(os.environ)
        for k in ("CONSUL_HTTP_ADDR", "LICTOR_HTTP_ADDR", "LICTOR_DATA_DIR",
                  "LICTOR_LOCAL_CONFIG", "CONSUL_HTTP_TOKEN"):
            env.pop(k, None)
        if self.env:
            env.update(self.env)
        self.exit_code = None
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
            preexec_fn=_set_pdeathsig, close_fds=True)

    def wait_ready(self, timeout=READY_TIMEOUT, need_leader=True):
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                raise HarnessError(
                    "agent exited with %s before it was ready\n%s"
                    % (self.proc.returncode, self.log_tail()))
            try:
                r = http_request("127.0.0.1", self.http_port, "GET",
                                 "/v1/status/leader", timeout=2)
                if r.status == 200:
                    leader = json.loads(r.body.decode())
                    if isinstance(leader, str) and (leader or
                                                    not need_leader):
                        self._note_children()
                        return
                last = "status %d body %r" % (r.status, r.body[:100])
            except (OSError, ValueError, http.client.HTTPException) as ex:
                last = repr(ex)
            time.sleep(0.05)
        raise HarnessError("agent not ready after %.0f s (last: %s)\n%s"
                           % (timeout, last, self.log_tail()))

    def _note_children(self):
        if self.proc and self.proc.poll() is None:
            self._children.update(descendants_of(self.proc.pid))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop the agent by pid: sig, a bounded wait, then SIGKILL; then
        SIGKILL any daemon of it still alive. Returns the exit code."""
        if self.proc is None:
            return self.exit_code
        self._note_children()
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.exit_code = self.proc.returncode
        # Daemons should have stopped with init; those that did not are
        # ours to end (same pid and start time as when we saw them).
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline and any(
                pid_alive(p, s) for p, s in self._children.items()):
            time.sleep(0.05)
        self.leftover = []
        for p, s in self._children.items():
            if pid_alive(p, s):
                self.leftover.append(p)
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._children = {}
        self.proc = None
        self._close_log()
        if self.ports is not None and not self.fixed_ports:
            self.ports.release()
        return self.exit_code

    def _close_log(self):
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def send_signal(self, sig=signal.SIGTERM):
        """Send sig to the agent (init) without waiting: stop() waits."""
        if self.proc is not None and self.proc.poll() is None:
            self._note_children()
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def crash(self, timeout=10.0 * SLOW):
        """The machine dies: every process of the agent gets SIGKILL at
        once, init first frozen (SIGSTOP) so it starts nothing new and
        its daemons get no SIGTERM from their parent's death. Only our
        own pids (checked by start time) are signalled."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
            self._note_children()
            kids = dict(self._children)
            kids.update(descendants_of(self.proc.pid))
            for p, s in kids.items():
                if pid_alive(p, s):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        self.proc.wait(timeout)
        self.exit_code = self.proc.returncode
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
                pid_alive(p, s) for p, s in self._children.items()):
            time.sleep(0.02)
        self._children = {}
        self.proc = None
        self._close_log()
        return self.exit_code

    def close(self):
        """Release everything held across starts (fixed ports)."""
        if self.ports is not None:
            self.ports.release()

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait (bounded) for the agent to exit by itself; returns the exit
        code or None if it is still running."""
        if self.proc is None:
            return self.exit_code
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_code = self.proc.returncode
        return self.exit_code

    def restart(self, timeout=READY_TIMEOUT, wait="leader"):
        """SIGTERM the agent and start a new one on the same data dir (new
        ports unless fixed_ports). Returns the old agent's exit code."""
        code = self.stop()
        self.start(timeout, wait=wait)
        return code

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- logs

    def log_text(self, all_starts=False):
        out = []
        for p in (self.log_paths if all_starts else self.log_paths[-1:]):
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "".join(out)

    def log_tail(self, lines=150):
        text = self.log_text(all_starts=True).splitlines()
        head = "---- agent log (%s, last %d lines) ----" % (
            ", ".join(self.log_paths), min(lines, len(text)))
        return "\n".join([head] + text[-lines:])

    def crash_lines(self):
        return [l for l in self.log_text(all_starts=True).splitlines()
                if CRASH_PATTERNS.search(l)]

    # -- HTTP

    def http(self, method, path, body=None, headers=None, timeout=10.0):
        if isinstance(body, str):
            body = body.encode()
        return http_request("127.0.0.1", self.http_port, method, path,
                            body=body, headers=headers, timeout=timeout)

    def get(self, path, **kw):
        return self.http("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.http("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.http("DELETE", path, **kw)

    def kv_put(self, key, value=b"", query=""):
        r = self.put("/v1/kv/%s%s" % (key, query), body=value)
        assert r.status == 200, r
        return r.body.strip()

    def kv_entry(self, key):
        """The KV entry dict (Value decoded to bytes) or None on 404."""
        r = self.get("/v1/kv/%s" % key)
        if r.status == 404:
            return None
        assert r.status == 200, r
        e = r.json()
        assert isinstance(e, list) and len(e) == 1, e
        e = e[0]
        e["Value"] = unb64(e["Value"])
        return e

    # -- lictor commands

    def run(self, args, input=None, env=None, timeout=30.0 * SLOW):
        """Run `lictor ARGS...` (no flags added)."""
        e = dict(os.environ)
        for k in ("CONSUL_HTTP_ADDR", "LICTOR_HTTP_ADDR", "LICTOR_DATA_DIR",
                  "CONSUL_HTTP_TOKEN"):
            e.pop(k, None)
        if env:
            e.update(env)
        if isinstance(input, str):
            input = input.encode()
        return subprocess.run([LICTOR] + list(args), input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=e, timeout=timeout, cwd=self.workdir)

    def cli(self, args, input=None, env=None, http_addr=True, timeout=None,
            words=2):
        """`lictor kv put ...`: args start with the command words (e.g.
        ["kv", "put", "k", "v"]; `words` of them: 3 for `operator raft
        list-peers`); -http-addr goes right after them, where Go's flag
        parsing expects flags."""
        args = list(args)
        n = 0
        while n < len(args) and n < words and not args[n].startswith("-"):
            n += 1
        if http_addr:
            args = args[:n] + ["-http-addr=%s" % self.http_addr] + args[n:]
        kw = {} if timeout is None else {"timeout": timeout}
        return self.run(args, input=input, env=env, **kw)

    def ctl(self, args, timeout=None):
        kw = {} if timeout is None else {"timeout": timeout}
        return self.run(["ctl", "-data-dir", self.data_dir] + list(args),
                        **kw)

    def status(self):
        """`lictor ctl status` as {name: {pid, state, uptime, restarts}}."""
        r = self.ctl(["status"])
        if r.returncode != 0:
            raise HarnessError("lictor ctl status failed (%d): %s %s"
                               % (r.returncode, r.stdout, r.stderr))
        lines = [l for l in r.stdout.decode().splitlines() if l.strip()]
        if not lines:
            raise HarnessError("lictor ctl status printed nothing")
        head = lines[0].split()
        for col in ("NAME", "PID", "STATE", "UPTIME", "RESTARTS"):
            if col not in head:
                raise HarnessError("ctl status header lacks %s: %r"
                                   % (col, lines[0]))
        out = {}
        for l in lines[1:]:
            f = l.split()
            row = dict(zip(head, f))
            try:
                out[row["NAME"]] = {
                    "pid": int(row["PID"]), "state": row["STATE"],
                    "uptime": row["UPTIME"],
                    "restarts": int(row["RESTARTS"]), "line": l}
            except (KeyError, ValueError):
                raise HarnessError("cannot parse ctl status row %r" % l)
        self._note_children()
        return out

    def kill_daemon(self, name, sig=signal.SIGKILL):
        """SIGKILL one daemon by the pid `lictor ctl status` reports."""
        st = self.status()
        if name not in st:
            raise HarnessError("no daemon %r in ctl status: %r" % (name, st))
        pid = st[name]["pid"]
        if pid <= 0:
            raise HarnessError("daemon %s has no pid: %r" % (name, st[name]))
        # Make sure it is one of the agent's processes before killing it.
        if pid not in descendants_of(self.pid):
            raise HarnessError("pid %d of %s is not a descendant of agent "
                               "%d" % (pid, name, self.pid))
        os.kill(pid, sig)
        return pid

    def wait_daemon(self, name, old_pid=None, min_restarts=None,
                    timeout=20.0 * SLOW):
        """Poll ctl status until `name` runs (state running) with a pid
        other than old_pid and at least min_restarts restarts."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                st = self.status()
                last = st
                d = st.get(name)
                if d and d["state"] == "running" and d["pid"] > 0 and \
                        (old_pid is None or d["pid"] != old_pid) and \
                        (min_restarts is None or
                         d["restarts"] >= min_restarts) and \
                        pid_alive(d["pid"]):
                    return d
            except HarnessError as ex:
                last = ex
            time.sleep(0.1)
        raise HarnessError("daemon %s not back after %.0f s; last status %r"
                           "\n%s" % (name, timeout, last, self.log_tail()))

    def wait_http(self, timeout=20.0 * SLOW):
        """Bounded poll until the KV API answers a read (200 or 404)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                r = self.get("/v1/kv/__lictor_integ_probe__", timeout=2)
                if r.status in (200, 404):
                    return
                last = r
            except (OSError, http.client.HTTPException) as ex:
                last = ex
            time.sleep(0.05)
        raise HarnessError("KV API not answering after %.0f s (last %r)\n%s"
                           % (timeout, last, self.log_tail()))

    # -- run directory

    def rundir(self):
        """The agent's run directory: where docs/architecture.md says it
        is, else any /tmp/lictor-$UID/*/ whose agent.json names our data
        dir. None if not found."""
        roots = []
        if os.environ.get("LICTOR_RUN_ROOT"):
            roots.append(os.environ["LICTOR_RUN_ROOT"])
        roots.append("/tmp/lictor-%d" % os.geteuid())
        real = os.path.realpath(self.data_dir)
        for root in roots:
            d = os.path.join(root, "%016x" % fnv1a64(real))
            if os.path.isdir(d):
                return d
        for root in roots:
            for cfg in glob.glob(os.path.join(root, "*", "agent.json")):
                try:
                    with open(cfg) as f:
                        text = f.read()
                except OSError:
                    continue
                if real in text or self.data_dir in text:
                    return os.path.dirname(cfg)
        return None

    def sockets(self):
        d = self.rundir()
        if d is None:
            return []
        return sorted(glob.glob(os.path.join(d, "*.sock")))

    # -- cluster views

    def leader(self, timeout=5.0):
        """What /v1/status/leader says ("" when none), or None when the
        agent does not answer."""
        try:
            r = self.get("/v1/status/leader", timeout=timeout)
        except (OSError, http.client.HTTPException):
            return None
        if r.status != 200:
            return None
        try:
            v = json.loads(r.body.decode())
        except ValueError:
            return None
        return v if isinstance(v, str) else None

    def raft_configuration(self, stale=False, timeout=5.0):
        """/v1/operator/raft/configuration as a dict, or None."""
        try:
            r = self.get("/v1/operator/raft/configuration" +
                         ("?stale" if stale else ""), timeout=timeout)
        except (OSError, http.client.HTTPException):
            return None
        if r.status != 200:
            return None
        return r.json()

    def ctl_stats(self, daemon, timeout=10.0 * SLOW):
        """`lictor ctl <daemon> stats` as {name: int-or-str}."""
        r = self.ctl([daemon, "stats"], timeout=timeout)
        if r.returncode != 0:
            raise HarnessError("ctl %s stats failed (%d): %r %r" % (
                daemon, r.returncode, r.stdout, r.stderr))
        out = {}
        for line in r.stdout.decode().splitlines():
            f = line.split(None, 1)
            if len(f) != 2:
                continue
            v = f[1].strip()
            try:
                out[f[0]] = int(v)
            except ValueError:
                out[f[0]] = v
        return out

    def raft_stats(self):
        return self.ctl_stats("raftd")

    def kvd_digest(self, timeout=10.0 * SLOW):
        """`lictor ctl kvd digest`: 16 hex digits of the whole KV state."""
        r = self.ctl(["kvd", "digest"], timeout=timeout)
        if r.returncode != 0:
            raise HarnessError("ctl kvd digest failed (%d): %r %r" % (
                r.returncode, r.stdout, r.stderr))
        d = r.stdout.decode().strip()
        if not re.fullmatch(r"[0-9a-fA-F]{16}", d):
            raise HarnessError("ctl kvd digest printed %r" % d)
        return d.lower()


# ---------------------------------------------------------------- cluster

def poll(what, fn, timeout, interval=0.1):
    """Call fn until it returns something true; returns it. Raises
    HarnessError naming `what` and fn's last value after timeout (already
    stretched by the caller if it should be)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except (OSError, http.client.HTTPException, HarnessError,
                subprocess.TimeoutExpired) as ex:
            last = ex
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise HarnessError("%s: not after %.1f s (last: %r)" % (
                what, timeout, last))
        time.sleep(interval)


class Cluster:
    """N loopback servers that form one Raft cluster by themselves:
    `-server -bootstrap-expect N -retry-join <server 0's gossip address>`:
    gossip finds the servers, as in Consul. Agents come from
    `make(subdir=..., **kw)` (the conftest factories, which stop them by
    pid at teardown); every one has fixed ports, so a restarted server
    keeps its Raft address."""

    def __init__(self, make, n=3, config=None, name="srv", extra_args=()):
        self.make = make
        self.n = n
        self.name = name
        self.extra_args = list(extra_args)
        self.config_path = None
        self.agents = []
        self._config = config
        self.seed = None

    def _config_args(self, workdir):
        if not self._config:
            return []
        if self.config_path is None:
            os.makedirs(workdir, exist_ok=True)
            self.config_path = os.path.join(workdir, "cluster.yaml")
            with open(self.config_path, "w") as f:
                for k, v in self._config.items():
                    f.write("%s: %s\n" % (k, json.dumps(v)))
        return ["-config-file", self.config_path]

    def new_agent(self, bootstrap_expect=None, join=True, extra_args=()):
        """A server agent (not started) joining the cluster's seed."""
        i = len(self.agents)
        a = self.make(subdir="%s%d" % (self.name, i),
                      name="%s%d" % (self.name, i),
                      bootstrap=bootstrap_expect or False,
                      fixed_ports=True)
        a.reserve_ports()
        if self.seed is None:
            self.seed = a.serf_addr
        args = self._config_args(os.path.dirname(a.workdir))
        if join:
            # The seed names itself too: a join of oneself is harmless.
            args += ["-retry-join", self.seed]
        a.extra_args = args + self.extra_args + list(extra_args)
        self.agents.append(a)
        return a

    def start(self, timeout=None):
        """Create and start the N servers, then wait for one leader that
        all of them name and for a configuration of N voters."""
        timeout = timeout or 40.0 * SLOW
        for _ in range(self.n):
            self.new_agent(bootstrap_expect=self.n)
        for a in self.agents:
            a.start(wait=None)
        for a in self.agents:
            a.wait_ready(timeout, need_leader=False)
        self.wait_leader(timeout=timeout)
        self.wait_voters(self.n, timeout=timeout)
        return self

    def running(self):
        return [a for a in self.agents if a.running()]

    def by_addr(self, addr):
        for a in self.agents:
            if a.ports is not None and a.server_addr == addr:
                return a
        return None

    def wait_leader(self, agents=None, timeout=None, exclude=()):
        """Poll until every agent in `agents` (default: the running ones)
        names the same non-empty leader, one of them and not in exclude;
        returns the leader Agent."""
        timeout = timeout or 30.0 * SLOW
        exclude = {a.server_addr for a in exclude}

        def agreed():
            ags = agents or self.running()
            seen = {a.leader(timeout=3) for a in ags}
            if len(seen) != 1:
                return None
            addr = seen.pop()
            if not addr or addr in exclude:
                return None
            lead = self.by_addr(addr)
            if lead is None or lead not in ags:
                return None
            return lead
        return poll("one leader named by all servers", agreed, timeout)

    def wait_voters(self, n, agents=None, timeout=None):
        """Poll until the leader's configuration holds n servers, all
        voters; returns the configuration."""
        timeout = timeout or 30.0 * SLOW

        def voters():
            for a in (agents or self.running()):
                c = a.raft_configuration()
                if c is None:
                    continue
                s = c.get("Servers", [])
                if len(s) == n and all(x.get("Voter") for x in s):
                    return c
                return None
            return None
        return poll("%d voters in the raft configuration" % n, voters,
                    timeout)

    def wait_digests(self, agents=None, timeout=None):
        """Poll until kvd's digest is the same on every agent; returns
        it."""
        timeout = timeout or 30.0 * SLOW

        def same():
            ds = {a.kvd_digest() for a in (agents or self.running())}
            return ds.pop() if len(ds) == 1 else None
        return poll("equal kvd digests", same, timeout, interval=0.2)
