"""Untrusted input: bad HTTP requests get Consul's 4xx answers and the
agent keeps serving; bad config files and flags stop `lictor agent` with
a clear error (no crash); garbage on a daemon's IPC socket does not take
the agent down or lose data."""

import os
import re
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

import lictor_harness as H


# ------------------------------------------------------------ HTTP

@pytest.mark.parametrize("method,path", [
    ("POST", "/v1/kv/bad/method"),
    ("PATCH", "/v1/kv/bad/method"),
    ("PUT", "/v1/status/leader"),
    ("DELETE", "/v1/status/peers"),
    ("DELETE", "/v1/agent/self"),
])
def test_wrong_method_405(shared_agent, method, path):
    r = shared_agent.http(method, path, body=b"x" if method != "DELETE"
                          else None)
    assert r.status == 405, r
    if path.startswith("/v1/kv/"):
        assert shared_agent.get(path).status == 404, \
            "a refused %s must not write" % method


@pytest.mark.parametrize("q", ["index=abc", "index=-1", "index=1.5",
                               "index=99999999999999999999999"])
def test_bad_index_400(shared_agent, q):
    shared_agent.kv_put("bad/index", b"v")
    t0 = time.monotonic()
    r = shared_agent.get("/v1/kv/bad/index?%s&wait=2s" % q)
    assert r.status == 400, r
    assert time.monotonic() - t0 < 1.5


@pytest.mark.parametrize("w", ["abc", "10", "5parsecs", "1.2.3s"])
def test_bad_wait_400(shared_agent, w):
    shared_agent.kv_put("bad/wait", b"v")
    idx = shared_agent.get("/v1/kv/bad/wait").index
    t0 = time.monotonic()
    r = shared_agent.get("/v1/kv/bad/wait?index=%d&wait=%s" % (idx, w))
    assert r.status == 400, r
    assert time.monotonic() - t0 < 1.5


def test_value_size_limit_413(shared_agent):
    a = shared_agent
    r = a.put("/v1/kv/bad/size/max", body=b"m" * 524288)
    assert r.status == 200 and r.body == b"true", \
        "a value of exactly 512 KiB is allowed: %r" % r
    assert len(a.get("/v1/kv/bad/size/max?raw").body) == 524288
    r = a.put("/v1/kv/bad/size/over", body=b"o" * (524288 + 1))
    assert r.status == 413, r
    assert a.get("/v1/kv/bad/size/over").status == 404, \
        "an oversize value must not be stored"
    # A server may answer 413 from the headers alone and close before the
    # body is sent: send the headers first, and the body only if no answer
    # comes.
    status, head = _put_large(a.http_port, "/v1/kv/bad/size/max",
                              4 * 1024 * 1024)
    assert status == 413, head
    assert a.get("/v1/kv/bad/size/max?raw").body == b"m" * 524288


def _put_large(port, path, size, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"PUT %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                  b"\r\n" % (path.encode(), size))
        r, _, _ = select.select([s], [], [], 1.0)
        if not r:
            try:
                s.sendall(b"p" * size)
            except (BrokenPipeError, ConnectionResetError):
                pass
        buf = b""
        while b"\r\n" not in buf:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", buf)
        return (int(m.group(1)) if m else None), buf[:200]
    finally:
        s.close()


@pytest.mark.parametrize("q", ["cas=abc", "cas=-1", "cas=1x",
                               "cas=18446744073709551616"])
def test_bad_cas_400(shared_agent, q):
    r = shared_agent.put("/v1/kv/bad/cas?" + q, body=b"v")
    assert r.status == 400, r
    assert shared_agent.get("/v1/kv/bad/cas").status == 404
    r = shared_agent.delete("/v1/kv/bad/cas?" + q)
    assert r.status == 400, r


@pytest.mark.parametrize("q", ["flags=abc", "flags=-1", "flags=0x10",
                               "flags=18446744073709551616"])
def test_bad_flags_400(shared_agent, q):
    r = shared_agent.put("/v1/kv/bad/flags?" + q, body=b"v")
    assert r.status == 400, r
    assert shared_agent.get("/v1/kv/bad/flags").status == 404


def test_missing_key_name_400(shared_agent):
    a = shared_agent
    r = a.put("/v1/kv/", body=b"v")
    assert r.status == 400, r
    assert b"Missing key name" in r.body, r
    r = a.get("/v1/kv/")
    assert r.status == 400, "GET of the empty key without ?recurse: %r" % r
    r = a.delete("/v1/kv/")
    assert r.status == 400, "DELETE of the empty key without ?recurse: " \
        "%r" % r


def test_newline_in_key_rejected(shared_agent):
    r = shared_agent.put("/v1/kv/bad/nl%0Akey", body=b"v")
    assert 400 <= r.status < 500, r
    keys = shared_agent.get("/v1/kv/bad/nl?keys")
    assert keys.status == 404 or all("\n" not in k for k in keys.json())


@pytest.mark.parametrize("path", ["/v1/nope", "/nope", "/v1/kvx/a",
                                  "/v1/status/nope", "/v1/agent/nope"])
def test_unknown_route_404(shared_agent, path):
    r = shared_agent.get(path)
    assert r.status == 404, r


def _raw_exchange(port, data, shut_wr=False, timeout=5.0):
    """Send raw bytes; return (status or None, head bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if shut_wr:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in buf and time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return None, buf, True
            except socket.timeout:
                raise AssertionError("no answer and no close within %.0f s "
                                     "to %r" % (timeout, data[:60]))
            if not chunk:
                break
            buf += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", buf)
        return (int(m.group(1)) if m else None), buf[:200], True
    finally:
        s.close()


def _still_serving(a):
    assert a.running(), "agent died\n" + a.log_tail()
    r = a.get("/v1/status/leader", timeout=5)
    assert r.status == 200, r


def test_malformed_request_line_gets_4xx(shared_agent):
    a = shared_agent
    status, head, _ = _raw_exchange(a.http_port,
                                    b"THIS IS NOT HTTP\r\n\r\n")
    # Go answers 400; nng's parser takes the last word for the version and
    # answers 505 HTTP Version Not Supported, with a page that says why
    # (see docs/architecture.md). Either is a clear refusal; no answer, a
    # 2xx or a crash is the failure this test is for.
    assert status in (400, 505), \
        "malformed request line: expected 400 or 505, got %r" % head
    _still_serving(a)


def _case(name, data, shut=False):
    return pytest.param(name, data, shut, id=name)


@pytest.mark.parametrize("name,data,shut", [
    _case("no-colon-header",
          b"GET /v1/kv/x HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n"),
    _case("binary-garbage", b"\x00\xff\xfe\x01garbage\x02\x03\r\n\r\n"),
    _case("bad-version", b"GET /v1/kv/x HTTP/7.3\r\nHost: a\r\n\r\n"),
    _case("negative-length", b"PUT /v1/kv/bad/raw1 HTTP/1.1\r\nHost: a\r\n"
          b"Content-Length: -5\r\n\r\n"),
    _case("garbage-length", b"PUT /v1/kv/bad/raw2 HTTP/1.1\r\nHost: a\r\n"
          b"Content-Length: 12abc\r\n\r\nhello"),
    _case("short-body", b"PUT /v1/kv/bad/raw3 HTTP/1.1\r\nHost: a\r\n"
          b"Content-Length: 100\r\n\r\nshort", shut=True),
    _case("huge-header", b"GET /v1/kv/x HTTP/1.1\r\nHost: a\r\nX-Big: " +
          b"a" * 200000 + b"\r\n\r\n"),
    _case("huge-url", b"GET /v1/kv/" + b"u" * 1000000 +
          b" HTTP/1.1\r\nHost: a\r\n\r\n"),
    _case("many-headers", b"GET /v1/kv/x HTTP/1.1\r\nHost: a\r\n" +
          b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"),
])
def test_malformed_requests_rejected(shared_agent, name, data, shut):
    a = shared_agent
    status, head, _ = _raw_exchange(a.http_port, data, shut_wr=shut)
    # Either a 4xx (505 for an HTTP version it does not speak) or the
    # connection closed without an answer; never a success, another server
    # error or a hang.
    assert status is None or 400 <= status < 500 or \
        (name == "bad-version" and status == 505), (name, head)
    if status is None:
        assert not head, "garbage answer for %s: %r" % (name, head)
    m = re.match(rb"PUT /v1/kv/(\S+) ", data)
    if m:
        r = a.get("/v1/kv/" + m.group(1).decode())
        assert r.status == 404, "%s: a malformed PUT stored its key: %r" % (
            name, r)
    _still_serving(a)


def test_idle_connections_do_not_block_others(shared_agent):
    a = shared_agent
    idle = []
    try:
        for _ in range(50):
            idle.append(socket.create_connection(("127.0.0.1", a.http_port),
                                                 timeout=5))
        # half a request on some of them
        for s in idle[:25]:
            s.sendall(b"GET /v1/kv/x HTTP/1.1\r\nHost: a\r\n")
        t0 = time.monotonic()
        r = a.get("/v1/status/leader", timeout=5)
        assert r.status == 200 and time.monotonic() - t0 < 1.0, r
    finally:
        for s in idle:
            s.close()
    _still_serving(a)


TOO_MANY_CONNS = (
    b"HTTP/1.1 429 Too Many Requests\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 81\r\n"
    b"Connection: close\r\n\r\n"
    b"Your IP is issuing too many concurrent connections, please rate "
    b"limit your calls\n")


def _keepalive_get(s, path="/v1/status/leader"):
    """One keep-alive GET on an open socket; returns (status, body)."""
    s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, "closed before an answer: %r" % buf
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length: *(\d+)\r?$", head)
    assert m, head
    n = int(m.group(1))
    while len(body) < n:
        chunk = s.recv(4096)
        assert chunk, "closed inside a body: %r" % head
        body += chunk
    assert len(body) == n, "bytes after the answer: %r" % body
    assert not re.search(rb"(?im)^connection: *close", head), head
    return int(head.split(b" ", 2)[1]), body


def _read_to_eof(s, timeout=5.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            return buf
        buf += chunk
    raise AssertionError("no EOF within %.0f s: %r" % (timeout, buf))


def _wait_conns(a, n, timeout=5.0):
    """Waits until httpd counts n open connections (ctl stats)."""
    deadline = time.monotonic() + timeout * H.SLOW
    while True:
        got = a.ctl_stats("httpd").get("http.conns")
        if got == n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_http_max_conns_per_client(agent_factory, tmp_path):
    """limits.http_max_conns_per_client: the connection over the limit gets
    Consul's 429, byte for byte, and is closed; the others keep working,
    and once one closes a new one is served."""
    f = _write(tmp_path, "limits.yaml",
               "limits:\n  http_max_conns_per_client: 3\n")
    a = agent_factory(extra_args=["-config-file", f]).start()
    # The readiness polls' connections are gone.
    assert _wait_conns(a, 0) == 0
    socks = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", a.http_port),
                                         timeout=5)
            socks.append(s)
            assert _keepalive_get(s)[0] == 200
        for send_first in (True, False):
            s = socket.create_connection(("127.0.0.1", a.http_port),
                                         timeout=5)
            try:
                if send_first:
                    s.sendall(b"GET /v1/status/leader HTTP/1.1\r\n"
                              b"Host: a\r\n\r\n")
                assert _read_to_eof(s) == TOO_MANY_CONNS
            finally:
                s.close()
        assert a.ctl_stats("httpd")["http.conns_refused"] >= 2
        # The three are still served, on the same connections.
        for s in socks:
            assert _keepalive_get(s)[0] == 200
        socks.pop(0).close()
        assert _wait_conns(a, 2) == 2
        s = socket.create_connection(("127.0.0.1", a.http_port), timeout=5)
        socks.append(s)
        assert _keepalive_get(s)[0] == 200
    finally:
        for s in socks:
            s.close()
    _still_serving(a)


def test_http_max_conns_per_client_zero_is_unlimited(agent_factory,
                                                     tmp_path):
    """0 turns the limit off: more connections than the default 200."""
    f = _write(tmp_path, "limits.yaml",
               "limits:\n  http_max_conns_per_client: 0\n")
    a = agent_factory(extra_args=["-config-file", f]).start()
    socks = []
    try:
        for _ in range(220):
            socks.append(socket.create_connection(
                ("127.0.0.1", a.http_port), timeout=5))
        for s in socks:
            assert _keepalive_get(s)[0] == 200
        assert a.ctl_stats("httpd")["http.conns_refused"] == 0
    finally:
        for s in socks:
            s.close()
    _still_serving(a)


# ------------------------------------------------------------ config, flags

def _agent_must_fail(tmp_path, args, timeout=10.0):
    """Run `lictor agent ARGS` expecting it to refuse to start. Returns
    (exit code, combined output). A run that is still going after timeout
    is stopped (by pid) and the test fails."""
    ports = H.PortSet()
    data = os.path.join(str(tmp_path), "data-%d" % time.monotonic_ns())
    argv = [H.LICTOR, "agent", "-server", "-bootstrap", "-data-dir", data,
            "-node", "badcfg",
            "-client", "127.0.0.1", "-bind", "127.0.0.1",
            "-http-port", str(ports["http"]), "-dns-port", str(ports["dns"]),
            "-server-port", str(ports["server"]),
            "-serf-lan-port", str(ports["serf_lan"]),
            "-serf-wan-port", str(ports["serf_wan"])] + list(args)
    env = dict(os.environ)
    env.pop("LICTOR_LOCAL_CONFIG", None)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, cwd=str(tmp_path),
                         preexec_fn=H._set_pdeathsig)
    try:
        out, _ = p.communicate(timeout=timeout * H.SLOW)
    except subprocess.TimeoutExpired:
        kids = H.descendants_of(p.pid)
        p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate(timeout=10)
        for pid, st in kids.items():
            if H.pid_alive(pid, st):
                os.kill(pid, signal.SIGKILL)
        pytest.fail("lictor agent %r did not refuse to start; it ran for "
                    "%.0f s. Output:\n%s" % (args, timeout,
                                             out.decode(errors="replace")))
    finally:
        ports.release()
    return p.returncode, out.decode("utf-8", "replace")


def _assert_clean_refusal(code, out, *must_mention):
    assert code is not None and code > 0, \
        "expected a non-zero exit (not a signal), got %r:\n%s" % (code, out)
    assert not H.CRASH_PATTERNS.search(out), out
    assert "Traceback" not in out and "panic" not in out.lower(), out
    for m in must_mention:
        if isinstance(m, re.Pattern):
            assert m.search(out), "error should match %r:\n%s" % (
                m.pattern, out)
        else:
            assert m in out, "error should mention %r:\n%s" % (m, out)


def _write(tmp_path, name, text):
    p = os.path.join(str(tmp_path), name)
    with open(p, "w") as f:
        f.write(text)
    return p


LINE3 = re.compile(r"(line[ :]*3\b|:3:|:3\b)")


@pytest.mark.parametrize("name,text,dc", [
    pytest.param("good.yaml", "datacenter: cfg-yaml\nlog_level: debug\n",
                 "cfg-yaml", id="yaml"),
    pytest.param("good.json", '{"datacenter": "cfg-json", '
                 '"log_level": "info"}\n', "cfg-json", id="json"),
])
def test_config_file_control(agent_factory, tmp_path, name, text, dc):
    """The good twin of the tests below: the same loader accepts a valid
    file, so their refusals are about the fault put in each file."""
    f = _write(tmp_path, name, text)
    a = agent_factory(extra_args=["-config-file", f]).start()
    cfg = a.get("/v1/agent/self").json()["Config"]
    assert cfg["Datacenter"] == dc, cfg


def test_config_yaml_syntax_error(tmp_path):
    f = _write(tmp_path, "syntax.yaml",
               "server: true\nports:\n\thttp: 8500\n")
    code, out = _agent_must_fail(tmp_path, ["-config-file", f])
    _assert_clean_refusal(code, out, "syntax.yaml", LINE3)


def test_config_json_syntax_error(tmp_path):
    f = _write(tmp_path, "syntax.json",
               '{\n  "server": true,\n  "ports": {"http": 8500,,}\n}\n')
    code, out = _agent_must_fail(tmp_path, ["-config-file", f])
    _assert_clean_refusal(code, out, "syntax.json", LINE3)


def test_config_unknown_key(tmp_path):
    f = _write(tmp_path, "unknown.yaml",
               "server: true\nbogus_key_xyz: 1\n")
    code, out = _agent_must_fail(tmp_path, ["-config-file", f])
    _assert_clean_refusal(code, out, "unknown.yaml", "bogus_key_xyz")


def test_config_unknown_nested_key(tmp_path):
    f = _write(tmp_path, "nested.json",
               '{"ports": {"htttp": 8500}}\n')
    code, out = _agent_must_fail(tmp_path, ["-config-file", f])
    _assert_clean_refusal(code, out, "nested.json", "htttp")


@pytest.mark.parametrize("text,key", [
    ("ports:\n  http: not-a-port\n", "http"),
    ("server: [1, 2]\n", "server"),
    ('{"bootstrap_expect": "three"}\n', "bootstrap_expect"),
    ("ports: 8500\n", "ports"),
    ("node_name:\n  a: b\n", "node_name"),
])
def test_config_wrong_type(tmp_path, text, key):
    f = _write(tmp_path, "types.%s" % ("json" if text.startswith("{")
                                       else "yaml"), text)
    code, out = _agent_must_fail(tmp_path, ["-config-file", f])
    _assert_clean_refusal(code, out, os.path.basename(f), key)


def test_config_dir_with_bad_file(tmp_path):
    d = os.path.join(str(tmp_path), "conf.d")
    os.mkdir(d)
    _write(d, "10-good.json", '{"datacenter": "dc1"}\n')
    _write(d, "20-bad.json", '{"not_a_key_at_all": true}\n')
    code, out = _agent_must_fail(tmp_path, ["-config-dir", d])
    _assert_clean_refusal(code, out, "20-bad.json", "not_a_key_at_all")


def test_config_hcl_is_refused_clearly(tmp_path):
    f = _write(tmp_path, "agent.hcl", 'server = true\n')
    code, out = _agent_must_fail(tmp_path, ["-config-file", f])
    _assert_clean_refusal(code, out, "agent.hcl",
                          re.compile(r"(?i)\bhcl\b"))


def test_config_missing_file(tmp_path):
    f = os.path.join(str(tmp_path), "does-not-exist.yaml")
    code, out = _agent_must_fail(tmp_path, ["-config-file", f])
    _assert_clean_refusal(code, out, "does-not-exist.yaml")


@pytest.mark.parametrize("args,mention", [
    (["-no-such-flag"], "no-such-flag"),
    (["-http-port", "abc"], "http-port"),
    (["-http-port=70000x"], "http-port"),
    (["-server=maybe"], "server"),
    (["-bind"], "bind"),
    (["-log-level", "shouty"], re.compile(r"(?i)(log[-_ ]level|shouty)")),
])
def test_bad_flags(tmp_path, args, mention):
    code, out = _agent_must_fail(tmp_path, args)
    _assert_clean_refusal(code, out, mention)


# ------------------------------------------------------------ IPC garbage

# nng's SP protocol ids and each one's peer.
SP_PEER = {48: 49, 49: 48, 16: 16, 17: 17, 32: 33, 33: 32, 80: 81, 81: 80,
           98: 99, 99: 98, 112: 112}
SP_REQ0 = 48

GARBAGE = [
    b"",
    os.urandom(64),
    b"\xc1",                                  # never-used msgpack byte
    b"\x95\x01",                              # truncated 5-array
    b"\xdd\xff\xff\xff\xff",                  # array32 of 4G elements
    b"\xdf\xff\xff\xff\xff",                  # map32 of 4G entries
    b"\xc6\xff\xff\xff\xff",                  # bin32 of 4 GiB
    b"\x91" * 100000,                         # 100k-deep nesting
    b"\x95\xcc\xff\x7f\x01\x01\xc0",          # envelope, version 255
    b"\x95\x01\xce\xff\xff\xff\xff\x01\x01\xc0",   # unknown type
    b"\x95\x01\x01\x01\x01\xdd\x7f\xff\xff\xff",   # payload lies
    b"\x95\x01\x01\x01\x01\xc0" + b"\xc0" * 10,    # trailing bytes
    b"\xa5hello",
    os.urandom(70000),
]


def _sp_connect(path, timeout=2.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return None
    return s


def _sp_session(path, payload, frame_len=None):
    """One SP-over-IPC connection: handshake as the server's peer, send
    one framed message, read whatever comes back briefly, close."""
    s = _sp_connect(path)
    if s is None:
        return
    try:
        hdr = b""
        try:
            while len(hdr) < 8:
                c = s.recv(8 - len(hdr))
                if not c:
                    break
                hdr += c
        except socket.timeout:
            pass
        proto = SP_REQ0
        if len(hdr) == 8 and hdr[:4] == b"\x00SP\x00":
            theirs = struct.unpack(">H", hdr[4:6])[0]
            proto = SP_PEER.get(theirs, SP_REQ0)
        s.sendall(b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00")
        if proto == SP_REQ0:
            payload = b"\x80\x00\x00\x01" + payload   # request id header
        n = len(payload) if frame_len is None else frame_len
        s.sendall(b"\x01" + struct.pack(">Q", n) + payload)
        s.settimeout(0.3)
        try:
            s.recv(65536)
        except OSError:
            pass
    except OSError:
        pass
    finally:
        s.close()


def _raw_garbage(path, data):
    s = _sp_connect(path)
    if s is None:
        return
    try:
        s.sendall(data)
        s.settimeout(0.2)
        try:
            s.recv(4096)
        except OSError:
            pass
    except OSError:
        pass
    finally:
        s.close()


def _uptime_seconds(text):
    total, found = 0.0, False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        found = True
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60,
                               "h": 3600}[unit]
    return total if found else None


def _settle(a, after):
    """Bounded poll: the API answers again and every daemon has been up
    for over a second, so that a next death is a fresh one (init restarts
    a daemon that served for a second at once, and backs off otherwise)."""
    a.wait_http(timeout=40 * H.SLOW)
    deadline = time.monotonic() + 40 * H.SLOW
    first_seen = {}
    while True:
        st = a.status()
        ok = True
        for name, d in st.items():
            up = _uptime_seconds(d["uptime"])
            if up is None:
                first_seen.setdefault(d["pid"], time.monotonic())
                up = time.monotonic() - first_seen[d["pid"]]
            if d["state"] != "running" or up < 1.2:
                ok = False
        if ok:
            return
        if time.monotonic() > deadline:
            pytest.fail("daemons not settled after garbage on %s: %r\n%s"
                        % (after, st, a.log_tail()))
        time.sleep(0.1)


@pytest.mark.timeout(400)
def test_ipc_socket_garbage(agent):
    a = agent
    want = {}
    for i in range(50):
        k = "ipc/k%02d" % i
        v = b"value-%d-" % i + bytes(range(i, i + 20))
        assert a.put("/v1/kv/" + k + "?flags=%d" % i, body=v).body == b"true"
        want[k] = (v, i)
    socks = a.sockets()
    assert socks, "cannot find the agent's IPC sockets (run dir %r)" % (
        a.rundir(),)
    agent_pid = a.pid
    restarted = {}
    for path in socks:
        name = os.path.basename(path)
        before = {n: d["pid"] for n, d in a.status().items()}
        # 1. bytes that are not SP at all, then 2. well-framed SP messages
        # carrying garbage, then 3. a frame that promises more than it
        # sends and one of absurd length.
        sends = [(_raw_garbage, (d,)) for d in (
            os.urandom(512), b"GET / HTTP/1.1\r\n\r\n",
            b"\x00SP\x00\xff\xff\x00\x00" + os.urandom(32),
            b"\x00SP\x00\x00\x31\x00\x00\x01" + b"\xff" * 8)]
        sends += [(_sp_session, (g,)) for g in GARBAGE]
        sends += [(_sp_session, (b"\x95\x01", 1 << 20)),
                  (_sp_session, (b"", (1 << 63) - 1))]
        for fn, args in sends:
            fn(path, *args)
            assert a.running() and a.pid == agent_pid, \
                "the agent died after garbage on %s\n%s" % (name,
                                                             a.log_tail())
            try:
                _settle(a, name)
            except H.HarnessError as ex:
                pytest.fail("no recovery after garbage on %s: %s"
                            % (name, ex))
        after = {n: d["pid"] for n, d in a.status().items()}
        restarted[name] = sorted(n for n in before
                                 if after.get(n) != before[n])
    print("daemons restarted by garbage, per socket: %r" % restarted)

    for k, (v, fl) in want.items():
        e = a.kv_entry(k)
        assert e is not None, "key %s lost after IPC garbage" % k
        assert e["Value"] == v and e["Flags"] == fl, k
    assert a.put("/v1/kv/ipc/after", body=b"ok").body == b"true"
    assert a.kv_entry("ipc/after")["Value"] == b"ok"
