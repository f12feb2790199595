"""How operators start lictor: by name from PATH, as `lictor agent ...`,
not by an absolute path. init must find its daemons from its own binary
(/proc/self/exe), whatever argv[0] says."""

import os
import signal
import subprocess
import tempfile

import lictor_harness as H


def test_agent_started_by_name_from_path():
    ports = H.PortSet()
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(H.LICTOR) + os.pathsep + env["PATH"]
    with tempfile.TemporaryDirectory() as tmp:
        log = open(os.path.join(tmp, "agent.log"), "wb")
        p = subprocess.Popen(
            ["lictor", "agent", "-server", "-bootstrap",
             "-data-dir", os.path.join(tmp, "data"), "-node", "bypath",
             "-bind", "127.0.0.1", "-client", "127.0.0.1",
             "-http-port", str(ports["http"]), "-dns-port",
             str(ports["dns"]), "-server-port", str(ports["server"]),
             "-serf-lan-port", str(ports["serf_lan"]),
             "-serf-wan-port", str(ports["serf_wan"])],
            env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            def leader():
                try:
                    r = H.http_request("127.0.0.1", ports["http"], "GET",
                                       "/v1/status/leader", timeout=2)
                except OSError:
                    return None
                return r if r.status == 200 and r.json() else None
            r = H.poll("a leader through the agent started from PATH",
                       leader, 20 * H.SLOW)
            assert r.json() == "127.0.0.1:%d" % ports["server"]
            r = H.http_request("127.0.0.1", ports["http"], "PUT",
                               "/v1/kv/bypath", body=b"ok")
            assert r.status == 200 and r.body == b"true", r
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=15 * H.SLOW)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                rc = p.wait()
            log.close()
            ports.release()
        text = open(os.path.join(tmp, "agent.log"), "rb").read().decode(
            "utf-8", "replace")
        assert rc == 0, text
        assert "cannot execute" not in text, text
        assert not H.CRASH_PATTERNS.search(text), text
