"""`lictor kv put|get|delete|export|import`: Consul's CLI texts, streams
(Info on stdout, Error on stderr) and exit codes, byte for byte."""

import base64
import json

import pytest

import lictor_harness as H


def ok(r, stdout):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.decode() == stdout, (r.stdout, r.stderr)
    assert r.stderr == b"", r.stderr


def err(r, stderr, code=1):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.decode() == stderr, (r.stdout, r.stderr)
    assert r.stdout == b"", r.stdout


@pytest.fixture(scope="module")
def a(shared_agent):
    return shared_agent


def test_put_get_delete(a):
    ok(a.cli(["kv", "put", "cli/basic", "hello world"]),
       "Success! Data written to: cli/basic\n")
    assert a.kv_entry("cli/basic")["Value"] == b"hello world"
    ok(a.cli(["kv", "get", "cli/basic"]), "hello world\n")
    ok(a.cli(["kv", "get", "/cli/basic"]), "hello world\n")
    ok(a.cli(["kv", "delete", "cli/basic"]),
       "Success! Deleted key: cli/basic\n")
    assert a.kv_entry("cli/basic") is None
    ok(a.cli(["kv", "delete", "cli/never"]),
       "Success! Deleted key: cli/never\n")


def test_get_missing_key(a):
    err(a.cli(["kv", "get", "cli/missing/key"]),
        "Error! No key exists at: cli/missing/key\n")


def test_usage_errors(a):
    err(a.cli(["kv", "put"]), "Error! Missing KEY argument\n")
    err(a.cli(["kv", "get"]), "Error! Missing KEY argument\n")
    err(a.cli(["kv", "delete"]), "Error! Missing KEY argument\n")
    err(a.cli(["kv", "get", "a", "b"]),
        "Too many arguments (expected 1, got 2)\n")
    err(a.cli(["kv", "put", "a", "b", "c"]),
        "Error! Too many arguments (expected 1 or 2, got 3)\n")


def test_empty_value(a):
    ok(a.cli(["kv", "put", "cli/empty"]),
       "Success! Data written to: cli/empty\n")
    assert a.kv_entry("cli/empty")["Value"] == b""
    ok(a.cli(["kv", "put", "cli/empty2", ""]),
       "Success! Data written to: cli/empty2\n")
    ok(a.cli(["kv", "get", "cli/empty"]), "\n")


def test_value_from_stdin_and_file(a, tmp_path):
    ok(a.cli(["kv", "put", "cli/stdin", "-"], input=b"from stdin\nline 2\n"),
       "Success! Data written to: cli/stdin\n")
    assert a.kv_entry("cli/stdin")["Value"] == b"from stdin\nline 2\n"
    blob = bytes(range(256))
    f = tmp_path / "value.bin"
    f.write_bytes(blob)
    ok(a.cli(["kv", "put", "cli/file", "@%s" % f]),
       "Success! Data written to: cli/file\n")
    assert a.kv_entry("cli/file")["Value"] == blob
    ok(a.cli(["kv", "put", "cli/dash", "-dashed-value"]),
       "Success! Data written to: cli/dash\n")
    assert a.kv_entry("cli/dash")["Value"] == b"-dashed-value"


def test_base64(a):
    ok(a.cli(["kv", "put", "-base64", "cli/b64", "aGVsbG8="]),
       "Success! Data written to: cli/b64\n")
    assert a.kv_entry("cli/b64")["Value"] == b"hello"
    ok(a.cli(["kv", "get", "-base64", "cli/b64"]), "aGVsbG8=\n")


def test_detailed_and_flags(a):
    ok(a.cli(["kv", "put", "-flags=42", "cli/det", "5"]),
       "Success! Data written to: cli/det\n")
    e = a.kv_entry("cli/det")
    assert e["Flags"] == 42
    ok(a.cli(["kv", "get", "-detailed", "cli/det"]),
       "CreateIndex      %d\n"
       "Flags            42\n"
       "Key              cli/det\n"
       "LockIndex        0\n"
       "ModifyIndex      %d\n"
       "Session          -\n"
       "Value            5\n" % (e["CreateIndex"], e["ModifyIndex"]))


def test_get_recurse_and_keys(a):
    for k, v in (("cli/tree/a", "1"), ("cli/tree/b", "2"),
                 ("cli/tree/sub/c", "3")):
        a.kv_put(k, v.encode())
    ok(a.cli(["kv", "get", "-recurse", "cli/tree/"]),
       "cli/tree/a:1\ncli/tree/b:2\ncli/tree/sub/c:3\n")
    ok(a.cli(["kv", "get", "-keys", "cli/tree/"]),
       "cli/tree/a\ncli/tree/b\ncli/tree/sub/\n")
    ok(a.cli(["kv", "get", "-keys", "-separator=", "cli/tree/"]),
       "cli/tree/a\ncli/tree/b\ncli/tree/sub/c\n")
    e = {x: a.kv_entry(x) for x in ("cli/tree/a", "cli/tree/b")}
    r = a.cli(["kv", "get", "-recurse", "-detailed", "cli/tree/"])
    assert r.returncode == 0, r
    blocks = r.stdout.decode().split("\n\n")
    assert len(blocks) == 3, r.stdout
    assert blocks[0] == ("CreateIndex      %d\nFlags            0\n"
                         "Key              cli/tree/a\nLockIndex        0\n"
                         "ModifyIndex      %d\nSession          -\n"
                         "Value            1" % (
                             e["cli/tree/a"]["CreateIndex"],
                             e["cli/tree/a"]["ModifyIndex"])), blocks[0]
    ok(a.cli(["kv", "delete", "-recurse", "cli/tree"]),
       "Success! Deleted keys with prefix: cli/tree\n")
    assert a.get("/v1/kv/cli/tree?recurse").status == 404


def test_put_cas(a):
    ok(a.cli(["kv", "put", "cli/cas", "one"]),
       "Success! Data written to: cli/cas\n")
    m = a.kv_entry("cli/cas")["ModifyIndex"]
    ok(a.cli(["kv", "put", "-cas", "-modify-index=%d" % m, "cli/cas", "two"]),
       "Success! Data written to: cli/cas\n")
    assert a.kv_entry("cli/cas")["Value"] == b"two"
    err(a.cli(["kv", "put", "-cas", "-modify-index=%d" % m, "cli/cas",
               "three"]),
        "Error! Did not write to cli/cas: CAS failed\n")
    assert a.kv_entry("cli/cas")["Value"] == b"two"
    # -cas without -modify-index is a create-only write (index 0)
    err(a.cli(["kv", "put", "-cas", "cli/cas", "four"]),
        "Error! Did not write to cli/cas: CAS performed with index=0 and "
        "key already exists.\n")
    assert a.kv_entry("cli/cas")["Value"] == b"two"
    ok(a.cli(["kv", "put", "-cas", "cli/cas-new", "fresh"]),
       "Success! Data written to: cli/cas-new\n")
    assert a.kv_entry("cli/cas-new")["Value"] == b"fresh"


def test_delete_cas(a):
    a.kv_put("cli/dcas", b"v")
    m = a.kv_entry("cli/dcas")["ModifyIndex"]
    err(a.cli(["kv", "delete", "-cas", "-modify-index=%d" % (m + 1000),
               "cli/dcas"]),
        "Error! Did not delete key cli/dcas: CAS failed\n")
    assert a.kv_entry("cli/dcas") is not None
    ok(a.cli(["kv", "delete", "-cas", "-modify-index=%d" % m, "cli/dcas"]),
       "Success! Deleted key: cli/dcas\n")
    assert a.kv_entry("cli/dcas") is None
    err(a.cli(["kv", "delete", "-cas", "-recurse", "-modify-index=5",
               "cli/x"]),
        "Cannot specify both -cas and -recurse!\n")
    err(a.cli(["kv", "delete", "-modify-index=5", "cli/x"]),
        "Cannot specify -modify-index without -cas!\n")


def test_export_import_round_trip(a, tmp_path):
    data = {"cli/exp/a": (b"alpha", 0), "cli/exp/b/c": (bytes(range(256)), 7),
            "cli/exp/empty": (b"", 18446744073709551615)}
    for k, (v, f) in data.items():
        a.kv_put(k, v, "?flags=%d" % f)
    r = a.cli(["kv", "export", "cli/exp/"])
    assert r.returncode == 0, r
    expect = [{"key": k, "flags": data[k][1],
               "value": base64.b64encode(data[k][0]).decode()}
              for k in sorted(data)]
    assert json.loads(r.stdout) == expect
    # Go's json.MarshalIndent with a tab, as consul prints it
    assert r.stdout.decode() == json.dumps(expect, indent="\t") + "\n"
    exported = r.stdout

    ok(a.cli(["kv", "delete", "-recurse", "cli/exp/"]),
       "Success! Deleted keys with prefix: cli/exp/\n")
    ok(a.cli(["kv", "export", "cli/exp/"]), "[]\n")

    f = tmp_path / "export.json"
    f.write_bytes(exported)
    ok(a.cli(["kv", "import", "@%s" % f]),
       "".join("Imported: %s\n" % k for k in sorted(data)))
    for k, (v, fl) in data.items():
        e = a.kv_entry(k)
        assert e["Value"] == v and e["Flags"] == fl, k

    a.delete("/v1/kv/cli/exp/?recurse")
    ok(a.cli(["kv", "import", "-"], input=exported),
       "".join("Imported: %s\n" % k for k in sorted(data)))
    assert a.kv_entry("cli/exp/b/c")["Value"] == bytes(range(256))

    inline = json.dumps([{"key": "cli/exp/inline", "flags": 3,
                          "value": base64.b64encode(b"in").decode()}])
    ok(a.cli(["kv", "import", inline]), "Imported: cli/exp/inline\n")
    e = a.kv_entry("cli/exp/inline")
    assert e["Value"] == b"in" and e["Flags"] == 3

    r = a.cli(["kv", "import", "this is not json"])
    assert r.returncode == 1 and r.stderr.startswith(
        b"Cannot unmarshal data: "), r


def _dead_addr():
    p = H.PortSet()
    port = p["http"]
    p.release()
    return "127.0.0.1:%d" % port


@pytest.mark.parametrize("var", ["LICTOR_HTTP_ADDR", "CONSUL_HTTP_ADDR"])
@pytest.mark.parametrize("scheme", ["", "http://"])
def test_http_addr_from_env(a, var, scheme):
    key = "cli/env/%s/%s" % (var, "scheme" if scheme else "bare")
    r = a.cli(["kv", "put", key, "via-env"], http_addr=False,
              env={var: scheme + a.http_addr})
    ok(r, "Success! Data written to: %s\n" % key)
    assert a.kv_entry(key)["Value"] == b"via-env"
    ok(a.cli(["kv", "get", key], http_addr=False,
             env={var: scheme + a.http_addr}), "via-env\n")


def test_flag_overrides_env(a):
    r = a.cli(["kv", "put", "cli/env/flag", "flag-wins"],
              env={"LICTOR_HTTP_ADDR": _dead_addr(),
                   "CONSUL_HTTP_ADDR": _dead_addr()})
    ok(r, "Success! Data written to: cli/env/flag\n")
    assert a.kv_entry("cli/env/flag")["Value"] == b"flag-wins"


def test_unreachable_agent(a):
    r = a.run(["kv", "get", "-http-addr=%s" % _dead_addr(), "cli/x"],
              timeout=30)
    assert r.returncode == 1, r
    assert r.stderr.strip() and r.stdout == b"", r
