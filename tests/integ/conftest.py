"""pytest fixtures for lictor's integration suite.

Run with Debian's python: /usr/bin/python3 -m pytest tests/integ
(LICTOR_BUILD_DIR points at the meson build directory, default
/work/main/build.)

Fixtures:
  agent_factory  make Agent objects (not started) in this test's tmp_path;
                 every one is stopped by pid at teardown
  agent          a started `-server -bootstrap -data-dir` agent for one test
  shared_agent   one started agent for a whole test module
  cluster_factory  start an H.Cluster of N servers for one test
  module_agent_factory  agent_factory for a whole test module
On failure, each involved agent's log is attached to the report. At
teardown, a sanitizer report or crash in any agent log, or a daemon that
outlived its agent, fails the test.
"""

import os
import signal
import sys
from collections import defaultdict

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lictor_harness as H  # noqa: E402

# Our HTTP goes to loopback only: no proxy, and no ambient Consul address
# (python-consul reads CONSUL_HTTP_ADDR and would override host/port).
for _k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
           "all_proxy", "ALL_PROXY", "CONSUL_HTTP_ADDR", "LICTOR_HTTP_ADDR",
           "CONSUL_HTTP_TOKEN", "LICTOR_DATA_DIR", "LICTOR_LOCAL_CONFIG"):
    os.environ.pop(_k, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

DEFAULT_TIMEOUT = {"setup": 90, "call": 120, "teardown": 90}
_AGENTS = defaultdict(list)     # nodeid (module or test) -> [Agent]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "timeout(seconds): bound for the test's call phase "
        "(default %d s)" % DEFAULT_TIMEOUT["call"])


class PhaseTimeout(Exception):
    pass


def _alarm(phase, seconds):
    def handler(signum, frame):
        raise PhaseTimeout("%s phase exceeded %d s" % (phase, seconds))
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds * H.SLOW)


def _disarm():
    signal.setitimer(signal.ITIMER_REAL, 0)


def _bounded(item, phase):
    seconds = DEFAULT_TIMEOUT[phase]
    m = item.get_closest_marker("timeout")
    if m is not None and phase == "call":
        seconds = m.args[0]
    _alarm(phase, seconds)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    _bounded(item, "setup")
    try:
        yield
    finally:
        _disarm()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _bounded(item, "call")
    try:
        yield
    finally:
        _disarm()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    _bounded(item, "teardown")
    try:
        yield
    finally:
        _disarm()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    seen = set()
    for nodeid, agents in list(_AGENTS.items()):
        if item.nodeid == nodeid or item.nodeid.startswith(nodeid + "::"):
            for a in agents:
                if id(a) in seen:
                    continue
                seen.add(id(a))
                rep.sections.append(("lictor agent %s (%s)" % (
                    a.name, rep.when), a.log_tail()))


def _require_binaries():
    if not H.binaries_present():
        pytest.fail("lictor is not built: no executable %s (set "
                    "LICTOR_BUILD_DIR or run ninja -C build)" % H.LICTOR,
                    pytrace=False)


class _Factory:
    def __init__(self, nodeid, base):
        self.nodeid = nodeid
        self.base = base
        self.agents = []

    def __call__(self, subdir=None, **kw):
        _require_binaries()
        sub = subdir or "agent%d" % len(self.agents)
        a = H.Agent(os.path.join(str(self.base), sub), **kw)
        self.agents.append(a)
        _AGENTS[self.nodeid].append(a)
        return a

    def teardown(self):
        problems = []
        # SIGTERM every agent first, then wait for each: a cluster's
        # servers stop together instead of one by one without quorum.
        for a in self.agents:
            a.send_signal()
        for a in self.agents:
            a.stop()
            a.close()
            if a.leftover:
                problems.append("agent %s: daemon pid(s) %s outlived the "
                                "agent (killed by the harness)"
                                % (a.name, a.leftover))
            crash = a.crash_lines()
            if crash:
                problems.append("agent %s: crash/sanitizer lines in its "
                                "log:\n  %s" % (a.name,
                                                "\n  ".join(crash[:20])))
        _AGENTS.pop(self.nodeid, None)
        if problems:
            pytest.fail("\n".join(problems) + "\n" + "\n".join(
                a.log_tail(80) for a in self.agents), pytrace=False)


@pytest.fixture
def agent_factory(request, tmp_path):
    f = _Factory(request.node.nodeid, tmp_path)
    yield f
    f.teardown()


@pytest.fixture
def agent(agent_factory):
    return agent_factory().start()


@pytest.fixture
def cluster_factory(agent_factory):
    """cluster_factory(n=3, config={yaml key: value}) -> a started
    H.Cluster of n servers in this test's tmp_path."""
    def make(n=3, config=None, start=True, **kw):
        c = H.Cluster(agent_factory, n=n, config=config, **kw)
        return c.start() if start else c
    return make


@pytest.fixture(scope="module")
def module_agent_factory(request, tmp_path_factory):
    """agent_factory for a whole test module (e.g. one cluster that
    several tests share)."""
    base = tmp_path_factory.mktemp(
        request.module.__name__.rsplit(".", 1)[-1] + "-mod")
    f = _Factory(request.node.nodeid, base)
    yield f
    f.teardown()


@pytest.fixture(scope="module")
def shared_agent(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(
        request.module.__name__.rsplit(".", 1)[-1])
    f = _Factory(request.node.nodeid, base)
    a = f().start()
    yield a
    f.teardown()
