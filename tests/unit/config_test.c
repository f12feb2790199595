/* config_test.c: the config loader and the schema behind it: YAML and
 * Consul JSON (tabs included) load into the right fields, every kind of
 * bad input gets its message with file, line, key and value, limits
 * (size, depth) hold, sources combine in the documented order with
 * flags winning, -dev adjusts, config_validate applies Consul's rules,
 * and config_write output loads back to the same struct. Files live in a
 * mkdtemp directory under $TMPDIR that the group teardown removes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char dir[4096];

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/config_test.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	unsetenv("LICTOR_LOCAL_CONFIG");
	return 0;
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static int
group_teardown(void **state)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
setup(void **state)
{
	struct lictor_config *c = calloc(1, sizeof(*c));

	config_defaults(c);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	config_free(*state);
	free(*state);
	unsetenv("LICTOR_LOCAL_CONFIG");
	return 0;
}

/* Writes text to dir/name and returns the path (static buffer). */
static const char *
put(const char *name, const char *text)
{
	static char path[8192];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return path;
}

static int
load(struct lictor_config *c, const char *name, const char *text,
    struct lerr *e)
{
	e->msg[0] = '\0';
	return config_load_string(c, name, text, strlen(text), e);
}

/* Loads text as name and expects exactly the error msg. */
static void
load_fails(const char *name, const char *text, const char *msg)
{
	struct lictor_config c;
	struct lerr e;

	config_defaults(&c);
	assert_int_equal(load(&c, name, text, &e), -LE_CONFIG);
	assert_string_equal(e.msg, msg);
	config_free(&c);
}

static int
args(struct lictor_config *c, struct lerr *e, ...)
{
	char *argv[32];
	va_list ap;
	int argc = 0;

	va_start(ap, e);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	e->msg[0] = '\0';
	return config_from_args(c, argc, argv, e);
}

static void
test_defaults(void **state)
{
	struct lictor_config *c = *state;
	char host[256] = "";

	gethostname(host, sizeof(host));
	assert_false(c->dev || c->server || c->bootstrap || c->ui);
	assert_int_equal(c->bootstrap_expect, 0);
	assert_string_equal(c->node_name, host);
	assert_null(c->node_id);
	assert_string_equal(c->datacenter, "dc1");
	assert_string_equal(c->domain, "consul.");
	assert_null(c->data_dir);
	assert_string_equal(c->log_level, "info");
	assert_string_equal(c->bind_addr, "0.0.0.0");
	assert_string_equal(c->client_addr, "127.0.0.1");
	assert_null(c->advertise_addr);
	assert_int_equal(c->port_http, 8500);
	assert_int_equal(c->port_dns, 8600);
	assert_int_equal(c->port_server, 8300);
	assert_int_equal(c->port_serf_lan, 8301);
	assert_int_equal(c->port_serf_wan, 8302);
	assert_int_equal(c->retry_join.n, 0);
	assert_int_equal(c->kv_max_value_size, 524288);
	assert_int_equal(c->txn_max_req_len, 524288);
	assert_int_equal(c->default_query_time_ms, 300000);
	assert_int_equal(c->max_query_time_ms, 600000);
	assert_int_equal(c->session_ttl_min_ms, 10000);
	assert_int_equal(c->tombstone_ttl_ms, 900000);
}

static const char full_yaml[] =
    "# every key lictor implements\n"
    "datacenter: East-1\n"
    "data_dir: /var/lib/lictor\n"
    "node_name: n1\n"
    "node_id: ADF4238A-882B-9DDC-4A9D-5B6758E4159E\n"
    "server: true\n"
    "bootstrap_expect: 3\n"
    "bind_addr: 10.0.0.1\n"
    "advertise_addr: 10.0.0.2\n"
    "client_addr: 0.0.0.0\n"
    "domain: example\n"
    "log_level: debug\n"
    "log_file: /var/log/lictor.log\n"
    "log_json: true\n"
    "pid_file: /run/lictor.pid\n"
    "ports:\n"
    "  http: 18500\n"
    "  dns: -1\n"
    "  server: 18300\n"
    "  serf_lan: 18301\n"
    "  serf_wan: 18302\n"
    "retry_join: [\"10.0.0.3\", 10.0.0.4]\n"
    "start_join:\n"
    "  - 10.0.0.5\n"
    "rejoin_after_leave: true\n"
    "ui_config:\n"
    "  enabled: true\n"
    "enable_script_checks: true\n"
    "enable_local_script_checks: True\n"
    "encrypt: \"pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=\"\n"
    "leave_on_terminate: true\n"
    "skip_leave_on_interrupt: FALSE\n"
    "limits:\n"
    "  kv_max_value_size: 1048576\n"
    "  txn_max_req_len: 65536\n"
    "default_query_time: 4.91s\n"
    "max_query_time: 1.5h\n"
    "session_ttl_min: 60000ms\n"
    "tombstone_ttl: \"2h45m\"\n";

static void
test_yaml_all_keys(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	assert_int_equal(load(c, "full.yaml", full_yaml, &e), 0);
	assert_string_equal(c->datacenter, "east-1");	/* lowercased */
	assert_string_equal(c->data_dir, "/var/lib/lictor");
	assert_string_equal(c->node_name, "n1");
	assert_string_equal(c->node_id,
	    "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
	assert_true(c->server);
	assert_int_equal(c->bootstrap_expect, 3);
	assert_string_equal(c->bind_addr, "10.0.0.1");
	assert_string_equal(c->advertise_addr, "10.0.0.2");
	assert_string_equal(c->client_addr, "0.0.0.0");
	assert_string_equal(c->domain, "example.");	/* made an FQDN */
	assert_string_equal(c->log_level, "debug");
	assert_string_equal(c->log_file, "/var/log/lictor.log");
	assert_true(c->log_json);
	assert_string_equal(c->pid_file, "/run/lictor.pid");
	assert_int_equal(c->port_http, 18500);
	assert_int_equal(c->port_dns, -1);
	assert_int_equal(c->port_server, 18300);
	assert_int_equal(c->port_serf_lan, 18301);
	assert_int_equal(c->port_serf_wan, 18302);
	assert_int_equal(c->retry_join.n, 2);
	assert_string_equal(c->retry_join.v[0], "10.0.0.3");
	assert_string_equal(c->retry_join.v[1], "10.0.0.4");
	assert_int_equal(c->start_join.n, 1);
	assert_string_equal(c->start_join.v[0], "10.0.0.5");
	assert_true(c->rejoin_after_leave);
	assert_true(c->ui);
	assert_true(c->enable_script_checks);
	assert_true(c->enable_local_script_checks);
	assert_string_equal(c->encrypt,
	    "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=");
	assert_true(c->leave_on_terminate);
	assert_false(c->skip_leave_on_interrupt);
	assert_int_equal(c->kv_max_value_size, 1048576);
	assert_int_equal(c->txn_max_req_len, 65536);
	assert_int_equal(c->default_query_time_ms, 4910);
	assert_int_equal(c->max_query_time_ms, 90 * 60 * 1000);
	assert_int_equal(c->session_ttl_min_ms, 60000);
	assert_int_equal(c->tombstone_ttl_ms, (2 * 60 + 45) * 60 * 1000);
	assert_int_equal(config_validate(c, &e), 0);
}

/* A file as Consul's docs write them: TAB indentation, "ui": true. */
static const char consul_json[] =
    "\t{\n"
    "\t\"datacenter\":\t\"dc2\",\n"
    "\t\"data_dir\": \"/opt/consul\",\n"
    "\t\"server\": true,\n"
    "\t\"ui\": true,\n"
    "\t\"ports\": {\n"
    "\t\t\"http\": 8501\n"
    "\t},\n"
    "\t\"log_file\": \"q\\\"\tin string\",\n"
    "\t\"retry_join\": [\n"
    "\t\t\"provider=aws tag_key=x\"\n"
    "\t]\n"
    "}\n";

static void
test_json_with_tabs(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	assert_int_equal(config_load_file(c, put("consul.json", consul_json),
	    &e), 0);
	assert_string_equal(c->datacenter, "dc2");
	assert_string_equal(c->data_dir, "/opt/consul");
	assert_true(c->server);
	assert_true(c->ui);
	assert_int_equal(c->port_http, 8501);
	/* A TAB inside a string (after an escaped quote) stays. */
	assert_string_equal(c->log_file, "q\"\tin string");
	assert_int_equal(c->retry_join.n, 1);
	assert_string_equal(c->retry_join.v[0], "provider=aws tag_key=x");
	/* The same text is no YAML: the TAB rewrite is what loads it. */
	assert_int_equal(config_load_file(c, put("consul.yaml", consul_json),
	    &e), -LE_CONFIG);
	assert_non_null(strstr(e.msg, "config: "));
	assert_non_null(strstr(e.msg, "/consul.yaml:1:1: found character "
	    "that cannot start any token"));
}

static void
test_local_config_env(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	setenv("LICTOR_LOCAL_CONFIG", "\t{\"datacenter\": \"envdc\", "
	    "\"retry_join\": [\"env\"]}", 1);
	assert_int_equal(args(c, &e, "-dev", NULL), 0);
	assert_string_equal(c->datacenter, "envdc");
	assert_int_equal(c->retry_join.n, 1);
	setenv("LICTOR_LOCAL_CONFIG", "{\"ports\": {\"http\": \"x\"}}", 1);
	assert_int_equal(args(c, &e, "-dev", NULL), -LE_CONFIG);
	assert_string_equal(e.msg, "config: LICTOR_LOCAL_CONFIG:1: "
	    "ports.http: invalid value \"x\": want an integer");
}

/* Runs a load with stderr sent to a file and returns what was logged. */
static void
load_logged(struct lictor_config *c, const char *name, const char *text,
    char *out, size_t len)
{
	char path[8192];
	struct lerr e;
	ssize_t n;
	int saved, fd;

	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stderr);
	saved = dup(2);
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	dup2(fd, 2);
	assert_int_equal(load(c, name, text, &e), 0);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
}

static void
test_unsupported_keys_warn(void **state)
{
	struct lictor_config *c = *state;
	char log[8192];

	load_logged(c, "svc.yaml",
	    "services:\n"
	    "  - name: web\n"
	    "    port: 80\n"
	    "    checks: [{http: \"http://x\", interval: 10s}]\n"
	    "acl: {enabled: true, tokens: {agent: x}}\n"
	    "ports: {grpc: 8502, http: 1234}\n"
	    "telemetry: 5\n"
	    "server: true\n", log, sizeof(log));
	/* Skipped whole, and loading went on after them. */
	assert_true(c->server);
	assert_int_equal(c->port_http, 1234);
	assert_non_null(strstr(log, "config: svc.yaml:1: services is not "
	    "supported yet and is ignored"));
	assert_non_null(strstr(log, "config: svc.yaml:5: acl is not "
	    "supported yet and is ignored"));
	assert_non_null(strstr(log, "config: svc.yaml:6: ports.grpc is not "
	    "supported yet and is ignored"));
	assert_non_null(strstr(log, "config: svc.yaml:7: telemetry is not "
	    "supported yet and is ignored"));
	assert_null(strstr(log, "checks"));
}

static void
test_unknown_keys(void **state)
{
	load_fails("a.yaml", "server: true\nbogus: 1\n",
	    "config: a.yaml:2: unknown key \"bogus\"");
	load_fails("a.json", "{\n  \"ports\": {\n    \"htp\": 1\n  }\n}",
	    "config: a.json:3: unknown key \"ports.htp\"");
	load_fails("a.json", "{\"ports.http\": 1}",
	    "config: a.json:1: unknown key \"ports.http\"");
	load_fails("a.json", "{\"limits\": {\"enabled\": true}}",
	    "config: a.json:1: unknown key \"limits.enabled\"");
	load_fails("a.yaml", "? [a]\n: b\n",
	    "config: a.yaml:1: keys must be strings");
}

static void
test_wrong_types(void **state)
{
	load_fails("t.yaml", "ports:\n  http: x\n",
	    "config: t.yaml:2: ports.http: invalid value \"x\": want an "
	    "integer");
	load_fails("t.json", "{\"ports\": {\"http\": \"8500\"}}",
	    "config: t.json:1: ports.http: invalid value \"8500\": want an "
	    "integer");
	load_fails("t.json", "{\"ports\": {\"http\": 8500.5}}",
	    "config: t.json:1: ports.http: invalid value \"8500.5\": want an "
	    "integer");
	load_fails("t.yaml", "ports:\n  http: 70000\n",
	    "config: t.yaml:2: ports.http: invalid value \"70000\": must be "
	    "between -1 and 65535");
	load_fails("t.yaml", "bootstrap_expect: -1\n",
	    "config: t.yaml:1: bootstrap_expect: invalid value \"-1\": must "
	    "be between 0 and 1000");
	load_fails("t.yaml", "ports: {dns: 99999999999999999999}\n",
	    "config: t.yaml:1: ports.dns: invalid value "
	    "\"99999999999999999999\": must be between -1 and 65535");
	load_fails("t.yaml", "datacenter: [a]\n",
	    "config: t.yaml:1: datacenter: invalid value: want a string, not "
	    "a list");
	load_fails("t.yaml", "server: {a: 1}\n",
	    "config: t.yaml:1: server: invalid value: want true or false, not "
	    "a mapping");
	load_fails("t.yaml", "server: yes\n",
	    "config: t.yaml:1: server: invalid value \"yes\": want true or "
	    "false");
	load_fails("t.yaml", "ui: maybe\n",
	    "config: t.yaml:1: ui: invalid value \"maybe\": want true or "
	    "false");
	load_fails("t.json", "{\"server\": \"true\"}",
	    "config: t.json:1: server: invalid value \"true\": want true or "
	    "false");
	load_fails("t.yaml", "retry_join: 10.0.0.1\n",
	    "config: t.yaml:1: retry_join: invalid value: want a list of "
	    "strings");
	load_fails("t.yaml", "retry_join:\n  - a\n  - [b]\n",
	    "config: t.yaml:3: retry_join: invalid list item: want a string");
	load_fails("t.yaml", "retry_join: [a, ~]\n",
	    "config: t.yaml:1: retry_join: invalid list item: want a string");
	load_fails("t.yaml", "ports: 8500\n",
	    "config: t.yaml:1: ports: invalid value: want a mapping");
	load_fails("t.yaml", "datacenter: \"a\\0b\"\n",
	    "config: t.yaml:1: datacenter: invalid value: contains a NUL "
	    "character");
	log_setlevel(LOG_LVL_ERROR);	/* services: warned about */
	load_fails("t.yaml", "services: &x [1]\ndatacenter: *x\n",
	    "config: t.yaml:2: datacenter: YAML aliases are not supported");
	log_setlevel(LOG_LVL_INFO);
}

static void
test_bad_durations(void **state)
{
	load_fails("d.json", "{\"max_query_time\": 300}",
	    "config: d.json:1: max_query_time: invalid value \"300\": want a "
	    "duration string such as \"300s\"; numbers are not accepted");
	load_fails("d.json", "{\"max_query_time\": \"300\"}",
	    "config: d.json:1: max_query_time: invalid value \"300\": want a "
	    "duration string such as \"300s\"");
	load_fails("d.yaml", "session_ttl_min: 5x\n",
	    "config: d.yaml:1: session_ttl_min: invalid value \"5x\": want a "
	    "duration string such as \"300s\"");
	load_fails("d.yaml", "session_ttl_min: 0s\n",
	    "config: d.yaml:1: session_ttl_min: invalid value \"0s\": must be "
	    "at least 1ms");
	load_fails("d.yaml", "session_ttl_min: -5s\n",
	    "config: d.yaml:1: session_ttl_min: invalid value \"-5s\": must be "
	    "at least 1ms");
	load_fails("d.yaml", "tombstone_ttl: 9999999999h\n",
	    "config: d.yaml:1: tombstone_ttl: invalid value \"9999999999h\": "
	    "duration is too large");
}

static void
test_bad_strings(void **state)
{
	load_fails("s.yaml", "datacenter: \"dc 1\"\n",
	    "config: s.yaml:1: datacenter: invalid value \"dc 1\": Datacenter "
	    "must be alpha-numeric with underscores and hyphens only");
	load_fails("s.yaml", "log_level: loud\n",
	    "config: s.yaml:1: log_level: invalid value \"loud\": want trace, "
	    "debug, info, warn or err");
	load_fails("s.yaml", "node_id: 1234\n",
	    "config: s.yaml:1: node_id: invalid value \"1234\": want a UUID "
	    "such as \"adf4238a-882b-9ddc-4a9d-5b6758e4159e\"");
	load_fails("s.yaml", "encrypt: \"abc!defg\"\n",
	    "config: s.yaml:1: encrypt: invalid value \"abc!defg\": encrypt "
	    "has invalid key: illegal base64 data at input byte 3");
	load_fails("s.yaml", "encrypt: \"YWJj\"\n",
	    "config: s.yaml:1: encrypt: invalid value \"YWJj\": encrypt has "
	    "invalid key: key size must be 16, 24 or 32 bytes");
	load_fails("s.yaml", "advertise_addr: 0.0.0.0\n",
	    "config: s.yaml:1: advertise_addr: invalid value \"0.0.0.0\": "
	    "Advertise address cannot be 0.0.0.0");
	load_fails("s.yaml", "domain: \"a b\"\n",
	    "config: s.yaml:1: domain: invalid value \"a b\": want a DNS "
	    "domain such as \"consul.\"");
	load_fails("s.yaml", "node_name: \"a\\x01b\"\n",
	    "config: s.yaml:1: node_name: invalid value \"a\x01" "b\": "
	    "control characters are not allowed");
}

static void
test_syntax_errors(void **state)
{
	load_fails("y.json", "{\"server\": true,,}",
	    "config: y.json:1:17: did not find expected node content (while "
	    "parsing a flow node at line 1)");
	load_fails("y.yaml", "server: true\ndatacenter: 'abc\n",
	    "config: y.yaml:3:1: found unexpected end of stream (while "
	    "scanning a quoted scalar at line 2)");
	load_fails("y.yaml", "datacenter: \"\xff\"\n",
	    "config: y.yaml: invalid leading UTF-8 octet at byte 13");
	load_fails("y.yaml", "- a\n",
	    "config: y.yaml:1: the top level must be a mapping of keys");
	load_fails("y.yaml", "server: true\n---\nui: true\n",
	    "config: y.yaml:2: only one YAML document is allowed");
}

static void
test_empty_and_null(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	assert_int_equal(load(c, "e.yaml", "", &e), 0);
	assert_int_equal(load(c, "e.yaml", "# only a comment\n", &e), 0);
	assert_int_equal(load(c, "e.yaml", "~\n", &e), 0);
	assert_int_equal(load(c, "e.json", "{}", &e), 0);
	/* null leaves a value as it was, like Go's nil pointer. */
	assert_int_equal(load(c, "e.json", "{\"datacenter\": null, \"ports\": "
	    "null, \"retry_join\": null, \"server\": null}", &e), 0);
	assert_int_equal(load(c, "e.yaml", "node_name:\nports:\n  http:\n",
	    &e), 0);
	assert_string_equal(c->datacenter, "dc1");
	assert_int_equal(c->port_http, 8500);
	assert_false(c->server);
	/* Empty node_name falls back to the host name, as Consul does. */
	assert_int_equal(load(c, "e.yaml", "node_name: \"  \"\n", &e), 0);
	assert_true(strlen(c->node_name) > 0);
	assert_int_equal(load(c, "e.yaml", "node_name: \" n2 \"\n", &e), 0);
	assert_string_equal(c->node_name, "n2");
}

static void
test_limits(void **state)
{
	struct lictor_config *c = *state;
	size_t big = (4 << 20) + 1, i;
	struct lerr e;
	char *s, path[8192];
	FILE *f;

	/* Nesting: 31 lists under the root mapping make depth 32. */
	assert_non_null(s = calloc(1, 200000));
	strcpy(s, "services: ");
	for (i = 0; i < 31; i++)
		strcat(s, "[");
	for (i = 0; i < 31; i++)
		strcat(s, "]");
	log_setlevel(LOG_LVL_ERROR);
	assert_int_equal(load(c, "n.yaml", s, &e), 0);
	strcpy(s, "services: [");
	for (i = 0; i < 31; i++)
		strcat(s, "[");
	assert_int_equal(load(c, "n.yaml", s, &e), -LE_CONFIG);
	assert_string_equal(e.msg,
	    "config: n.yaml:1: nesting deeper than 32 levels");
	/* A very deep document fails early, without recursion. */
	memset(s, '[', 199999);
	memcpy(s, "x: ", 3);
	assert_int_equal(load(c, "n.yaml", s, &e), -LE_CONFIG);
	free(s);
	assert_non_null(s = calloc(1, big));
	memset(s, ' ', big);
	s[0] = '{';
	s[1] = '}';
	assert_int_equal(config_load_string(c, "big.json", s, big, &e),
	    -LE_TOOBIG);
	assert_string_equal(e.msg, "config: big.json: larger than 4 MiB");
	snprintf(path, sizeof(path), "%s/big.json", dir);
	assert_non_null(f = fopen(path, "w"));
	fwrite(s, 1, big, f);
	fclose(f);
	assert_int_equal(config_load_file(c, path, &e), -LE_TOOBIG);
	/* Exactly 4 MiB is fine. */
	assert_int_equal(truncate(path, big - 1), 0);
	assert_int_equal(config_load_file(c, path, &e), 0);
	log_setlevel(LOG_LVL_INFO);
	free(s);
}

static void
test_hcl_and_files(void **state)
{
	struct lictor_config *c = *state;
	char sub[8192];
	struct lerr e;

	assert_int_equal(config_load_file(c, put("a.hcl", "x = 1"), &e),
	    -LE_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "a.hcl: HCL is not supported; use YAML "
	    "or JSON"));
	assert_int_equal(config_load_file(c, "/nonexistent/x.json", &e),
	    -LE_IO);
	assert_string_equal(e.msg, "config: cannot read /nonexistent/x.json: "
	    "No such file or directory");
	assert_int_equal(config_load_file(c, dir, &e), -LE_IO);
	assert_non_null(strstr(e.msg, ": is a directory"));
	assert_int_equal(config_load_dir(c, "/nonexistent", &e), -LE_IO);
	snprintf(sub, sizeof(sub), "%s/hcl.d", dir);
	mkdir(sub, 0700);
	put("hcl.d/a.hcl", "x = 1");
	assert_int_equal(config_load_dir(c, sub, &e), -LE_UNSUPPORTED);
}

static void
test_dir_order(void **state)
{
	struct lictor_config *c = *state;
	char sub[8192];
	struct lerr e;

	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/conf.d/skip.json", dir);
	assert_int_equal(mkdir(sub, 0700), 0);	/* a directory: skipped */
	put("conf.d/10-b.json", "{\"datacenter\": \"b\", \"retry_join\": "
	    "[\"b\"]}");
	put("conf.d/02-a.yaml", "datacenter: a\nretry_join: [a]\n");
	put("conf.d/05-c.yml", "retry_join: [c]\n");
	put("conf.d/README", "not config at all {{{");
	put("conf.d/x.json.bak", "not config at all {{{");
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	assert_int_equal(config_load_dir(c, sub, &e), 0);
	assert_string_equal(c->datacenter, "b");
	/* Lists from several files add up, as in Consul. */
	assert_int_equal(c->retry_join.n, 3);
	assert_string_equal(c->retry_join.v[0], "a");
	assert_string_equal(c->retry_join.v[1], "c");
	assert_string_equal(c->retry_join.v[2], "b");
}

static void
test_from_args_order(void **state)
{
	struct lictor_config *c = *state;
	char fa[8192], fb[8192], d[8192];
	struct lerr e;

	snprintf(fa, sizeof(fa), "%s", put("oa.json", "{\"datacenter\": "
	    "\"a\", \"retry_join\": [\"a\"], \"ports\": {\"http\": 1}, "
	    "\"server\": true, \"data_dir\": \"/d\"}"));
	snprintf(fb, sizeof(fb), "%s", put("ob.yaml", "datacenter: b\n"
	    "retry_join: [b]\n"));
	snprintf(d, sizeof(d), "%s/od", dir);
	mkdir(d, 0700);
	put("od/1.json", "{\"datacenter\": \"d\", \"retry_join\": [\"d\"]}");
	setenv("LICTOR_LOCAL_CONFIG", "{\"retry_join\": [\"env\"]}", 1);
	assert_int_equal(args(c, &e, "-config-file", fa, "--config-dir", d,
	    "-retry-join=f", "-config-file=" "/dev/null", "-config-file", fb,
	    NULL), 0);
	assert_string_equal(c->datacenter, "b");
	assert_int_equal(c->retry_join.n, 5);
	assert_string_equal(c->retry_join.v[0], "a");
	assert_string_equal(c->retry_join.v[1], "d");
	assert_string_equal(c->retry_join.v[2], "b");
	assert_string_equal(c->retry_join.v[3], "env");
	assert_string_equal(c->retry_join.v[4], "f");
	assert_int_equal(c->config_files.n, 3);
	assert_int_equal(c->config_dirs.n, 1);
	/* Directory after the file this time. */
	assert_int_equal(args(c, &e, "-config-file", fb, "-config-dir", d,
	    "-data-dir", "/x", NULL), 0);
	assert_string_equal(c->datacenter, "d");
	/* Flags win over files, whatever their place on the line. */
	assert_int_equal(args(c, &e, "-http-port", "2", "-server=false",
	    "-datacenter", "FLAG", "-config-file", fa, "-join", "j1", "-join",
	    "j2", "-rejoin", "-ui", "-node", "fn", "-bind", "1.2.3.4",
	    "-log-level", "warn", "-max-query-time", "90s", NULL), 0);
	assert_int_equal(c->port_http, 2);
	assert_false(c->server);
	assert_string_equal(c->datacenter, "flag");
	assert_int_equal(c->start_join.n, 2);
	assert_string_equal(c->start_join.v[1], "j2");
	assert_true(c->rejoin_after_leave && c->ui);
	assert_string_equal(c->node_name, "fn");
	assert_string_equal(c->bind_addr, "1.2.3.4");
	assert_string_equal(c->log_level, "warn");
	assert_int_equal(c->max_query_time_ms, 90000);
	assert_int_equal(c->retry_join.n, 2);	/* a + env; reset each call */
}

static void
test_dev(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	assert_int_equal(args(c, &e, "-dev", NULL), 0);
	assert_true(c->dev && c->server && c->bootstrap && c->ui);
	assert_string_equal(c->bind_addr, "127.0.0.1");
	assert_null(c->data_dir);
	/* Dev values are defaults: any source may override them. */
	assert_int_equal(args(c, &e, "-dev", "-bind", "0.0.0.0", "-config-file",
	    put("dev.json", "{\"ui_config\": {\"enabled\": false}}"), NULL), 0);
	assert_string_equal(c->bind_addr, "0.0.0.0");
	assert_false(c->ui);
	assert_true(c->server);
	assert_int_equal(args(c, &e, "-dev", "-bootstrap-expect", "3", NULL),
	    -LE_CONFIG);
	assert_string_equal(e.msg,
	    "BootstrapExpect mode cannot be enabled in dev mode");
	/* dev in a file works like the flag. */
	assert_int_equal(args(c, &e, "-config-file", put("dev2.yaml",
	    "dev: true\n"), NULL), 0);
	assert_true(c->server);
}

/* Consul's leave defaults depend on the mode; a source still wins. */
static void
test_leave_defaults(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	assert_int_equal(args(c, &e, "-server", "-bootstrap", "-data-dir",
	    "/tmp/x", NULL), 0);
	assert_false(c->leave_on_terminate);
	assert_true(c->skip_leave_on_interrupt);
	assert_int_equal(args(c, &e, "-data-dir", "/tmp/x", NULL), 0);
	assert_true(c->leave_on_terminate);
	assert_false(c->skip_leave_on_interrupt);
	assert_int_equal(args(c, &e, "-server", "-bootstrap", "-data-dir",
	    "/tmp/x", "-config-file", put("leave.json",
	    "{\"leave_on_terminate\": true, "
	    "\"skip_leave_on_interrupt\": false}"), NULL), 0);
	assert_true(c->leave_on_terminate);
	assert_false(c->skip_leave_on_interrupt);
	assert_int_equal(args(c, &e, "-data-dir", "/tmp/x", "-config-file",
	    put("leave2.yaml", "leave_on_terminate: false\n"), NULL), 0);
	assert_false(c->leave_on_terminate);
	assert_false(c->skip_leave_on_interrupt);
}

static void
test_from_args_errors(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	assert_int_equal(args(c, &e, "-dev", "-foo", NULL), -LE_INVAL);
	assert_string_equal(e.msg, "flag provided but not defined: -foo");
	assert_int_equal(args(c, &e, "-http-port=x", NULL), -LE_INVAL);
	assert_string_equal(e.msg,
	    "invalid value \"x\" for flag -http-port: parse error");
	assert_int_equal(args(c, &e, "-dev", "-server=maybe", NULL),
	    -LE_INVAL);
	assert_string_equal(e.msg,
	    "invalid boolean value \"maybe\" for -server: parse error");
	assert_int_equal(args(c, &e, "-default-query-time", "300", NULL),
	    -LE_INVAL);
	assert_string_equal(e.msg, "invalid value \"300\" for flag "
	    "-default-query-time: parse error");
	assert_int_equal(args(c, &e, "-dev", "-node", NULL), -LE_INVAL);
	assert_string_equal(e.msg, "flag needs an argument: -node");
	assert_int_equal(args(c, &e, "-dev", "-http-port", "70000", NULL),
	    -LE_CONFIG);
	assert_string_equal(e.msg, "config: flag -http-port: invalid value "
	    "\"70000\": must be between -1 and 65535");
	assert_int_equal(args(c, &e, "-dev", "-datacenter", "dc 1", NULL),
	    -LE_CONFIG);
	assert_string_equal(e.msg, "config: flag -datacenter: invalid value "
	    "\"dc 1\": Datacenter must be alpha-numeric with underscores and "
	    "hyphens only");
	assert_int_equal(args(c, &e, "-dev", "-node", "\xff", NULL),
	    -LE_CONFIG);
	assert_string_equal(e.msg, "config: flag -node: invalid value "
	    "\"\xff\": not valid UTF-8");
	assert_int_equal(args(c, &e, "-dev", "extra", NULL), -LE_INVAL);
	assert_string_equal(e.msg, "unexpected argument \"extra\": lictor "
	    "agent takes only flags");
	assert_int_equal(args(c, &e, "-dev", "-config-file", "/nonexistent",
	    NULL), -LE_IO);
	assert_int_equal(args(c, &e, NULL), -LE_CONFIG);
	assert_string_equal(e.msg, "data_dir cannot be empty");
	/* -h: no message, the caller prints usage. */
	assert_int_equal(args(c, &e, "-dev", "-h", NULL), -LE_STATE);
	assert_string_equal(e.msg, "");
}

static void
expect_invalid(struct lictor_config *c, const char *msg)
{
	struct lerr e;

	assert_int_equal(config_validate(c, &e), -LE_CONFIG);
	assert_string_equal(e.msg, msg);
	config_free(c);
	config_defaults(c);
	free(c->data_dir);
	c->data_dir = strdup("/d");
}

static void
test_validate(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	c->data_dir = strdup("/d");
	assert_int_equal(config_validate(c, &e), 0);
	c->bootstrap = true;
	expect_invalid(c, "Bootstrap mode requires Server mode");
	c->bootstrap_expect = 3;
	expect_invalid(c, "BootstrapExpect mode requires Server mode");
	c->server = c->bootstrap = true;
	c->bootstrap_expect = 3;
	expect_invalid(c, "BootstrapExpect mode and Bootstrap mode are "
	    "mutually exclusive");
	c->bootstrap_expect = -2;
	expect_invalid(c, "bootstrap_expect: invalid value \"-2\": must be "
	    "between 0 and 1000");
	c->port_serf_lan = 65536;
	expect_invalid(c, "ports.serf_lan: invalid value \"65536\": must be "
	    "between -1 and 65535");
	c->max_query_time_ms = 0;
	expect_invalid(c, "max_query_time: invalid value \"0s\": must be at "
	    "least 1ms");
	free(c->datacenter);
	c->datacenter = strdup("dc.1");
	expect_invalid(c, "datacenter: invalid value \"dc.1\": Datacenter "
	    "must be alpha-numeric with underscores and hyphens only");
	free(c->datacenter);
	c->datacenter = NULL;
	expect_invalid(c, "datacenter cannot be empty");
	free(c->log_level);
	c->log_level = strdup("verbose");
	expect_invalid(c, "log_level: invalid value \"verbose\": want trace, "
	    "debug, info, warn or err");
	free(c->retry_join.v);
	strlist_push(&c->retry_join, "ok");
	strlist_push(&c->retry_join, "bad\xc0\x80");	/* overlong NUL */
	expect_invalid(c, "retry_join: invalid value \"ok,bad\xc0\x80\": not "
	    "valid UTF-8");
	free(c->data_dir);
	c->data_dir = strdup("");
	expect_invalid(c, "data_dir cannot be empty");
	/* Normalisation happens in validate too. */
	free(c->datacenter);
	c->datacenter = strdup("DC-West_2");
	free(c->log_level);
	c->log_level = strdup("ERR");
	assert_int_equal(config_validate(c, &e), 0);
	assert_string_equal(c->datacenter, "dc-west_2");
	/* bootstrap_expect 1 is bootstrap mode, with Consul's warning. */
	log_setlevel(LOG_LVL_ERROR);
	assert_int_equal(args(c, &e, "-server", "-bootstrap-expect=1",
	    "-data-dir", "/d", NULL), 0);
	log_setlevel(LOG_LVL_INFO);
	assert_true(c->bootstrap);
	assert_int_equal(c->bootstrap_expect, 0);
}

/* Every field, explicitly, so that a field the schema forgets shows. */
static void
assert_same(const struct lictor_config *a, const struct lictor_config *b)
{
#define S(f)	do {							\
	if (a->f == NULL || b->f == NULL)				\
		assert_ptr_equal(a->f, b->f);				\
	else								\
		assert_string_equal(a->f, b->f);			\
} while (0)
#define L(f)	do {							\
	assert_int_equal(a->f.n, b->f.n);				\
	for (size_t i_ = 0; i_ < a->f.n; i_++)				\
		assert_string_equal(a->f.v[i_], b->f.v[i_]);		\
} while (0)
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->server, b->server);
	assert_int_equal(a->bootstrap, b->bootstrap);
	assert_int_equal(a->bootstrap_expect, b->bootstrap_expect);
	S(node_name); S(node_id); S(datacenter); S(domain); S(data_dir);
	S(pid_file); S(log_file); S(log_level);
	assert_int_equal(a->log_json, b->log_json);
	S(bind_addr); S(advertise_addr); S(client_addr);
	assert_int_equal(a->port_http, b->port_http);
	assert_int_equal(a->port_dns, b->port_dns);
	assert_int_equal(a->port_server, b->port_server);
	assert_int_equal(a->port_serf_lan, b->port_serf_lan);
	assert_int_equal(a->port_serf_wan, b->port_serf_wan);
	L(retry_join); L(start_join);
	assert_int_equal(a->rejoin_after_leave, b->rejoin_after_leave);
	assert_int_equal(a->ui, b->ui);
	assert_int_equal(a->enable_script_checks, b->enable_script_checks);
	assert_int_equal(a->enable_local_script_checks,
	    b->enable_local_script_checks);
	S(encrypt);
	assert_int_equal(a->leave_on_terminate, b->leave_on_terminate);
	assert_int_equal(a->skip_leave_on_interrupt,
	    b->skip_leave_on_interrupt);
	assert_int_equal(a->kv_max_value_size, b->kv_max_value_size);
	assert_int_equal(a->txn_max_req_len, b->txn_max_req_len);
	assert_int_equal(a->default_query_time_ms, b->default_query_time_ms);
	assert_int_equal(a->max_query_time_ms, b->max_query_time_ms);
	assert_int_equal(a->session_ttl_min_ms, b->session_ttl_min_ms);
	assert_int_equal(a->tombstone_ttl_ms, b->tombstone_ttl_ms);
#undef S
#undef L
}

static void
roundtrip(const struct lictor_config *a)
{
	struct lictor_config b;
	char path[8192];
	struct lerr e;
	FILE *f;

	snprintf(path, sizeof(path), "%s/agent.json", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(config_write(a, f), 0);
	fclose(f);
	config_defaults(&b);
	if (config_load_file(&b, path, &e) != 0)
		fail_msg("%s", e.msg);
	assert_same(a, &b);
	config_free(&b);
}

static void
test_write_roundtrip(void **state)
{
	struct lictor_config *c = *state;
	struct lerr e;

	roundtrip(c);		/* defaults, NULL strings included */
	assert_int_equal(load(c, "full.yaml", full_yaml, &e), 0);
	c->dev = true;
	roundtrip(c);
	/* Strings that need every kind of escape YAML and JSON have. */
	free(c->data_dir);
	c->data_dir = strdup("q\"b\\s/ n\nt\tr\r c\x01\x1f d\x7f "
	    "nel\xc2\x85 ls\xe2\x80\xa8\xe2\x80\xa9 c1\xc2\x80\xc2\x9f "
	    "e\xc3\xa9 nc\xef\xbf\xbe\xef\xbf\xbf \xf0\x9f\x98\x80 "
	    ": # - [ ] { } & * ! | > ' % @ `");
	strlist_push(&c->start_join, c->data_dir);
	free(c->node_name);
	c->node_name = strdup("n\xc3\xa9");
	free(c->pid_file);
	c->pid_file = strdup("");
	strlist_push(&c->retry_join, "");
	strlist_push(&c->retry_join, "null");
	strlist_push(&c->retry_join, "~");
	free(c->log_file);
	c->log_file = strdup("true");
	c->default_query_time_ms = 1;
	c->tombstone_ttl_ms = INT64_MAX / 1000000;
	c->port_http = -1;
	roundtrip(c);
}

static void
test_get(void **state)
{
	struct lictor_config *c = *state;
	char buf[256], tiny[4];
	struct lerr e;

	assert_int_equal(load(c, "g.yaml", full_yaml, &e), 0);
	assert_int_equal(config_get(c, "ports.http", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "18500");
	assert_int_equal(config_get(c, "datacenter", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "east-1");
	assert_int_equal(config_get(c, "server", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "true");
	assert_int_equal(config_get(c, "dev", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "false");
	assert_int_equal(config_get(c, "retry_join", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.3,10.0.0.4");
	assert_int_equal(config_get(c, "default_query_time", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "4.91s");
	assert_int_equal(config_get(c, "max_query_time", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "1h30m0s");
	assert_int_equal(config_get(c, "ui_config.enabled", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "true");
	assert_int_equal(config_get(c, "advertise_addr", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "10.0.0.2");
	assert_int_equal(config_get(c, "start_join", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.5");
	assert_int_equal(config_get(c, "ports", buf, sizeof(buf)),
	    -LE_NOTFOUND);
	assert_int_equal(config_get(c, "bogus", buf, sizeof(buf)),
	    -LE_NOTFOUND);
	assert_int_equal(config_get(c, "retry_join", tiny, sizeof(tiny)),
	    -LE_TOOBIG);
	assert_string_equal(tiny, "10.");
	assert_int_equal(config_get(c, "max_query_time", tiny, sizeof(tiny)),
	    -LE_TOOBIG);
	assert_int_equal(config_get(c, "ports.http", buf, 0), -LE_TOOBIG);
	free(c->node_id);
	c->node_id = NULL;
	assert_int_equal(config_get(c, "node_id", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void
test_usage(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(f = open_memstream(&buf, &len));
	config_agent_usage(f);
	fclose(f);
	assert_non_null(strstr(buf, "Usage: lictor agent [options]"));
	assert_non_null(strstr(buf, "  -bootstrap-expect int\n    \tSets "
	    "server to expect bootstrap mode.\n"));
	assert_non_null(strstr(buf, "  -retry-join value\n"));
	assert_non_null(strstr(buf, "  -max-query-time duration\n"));
	assert_non_null(strstr(buf, "  -dev\n    \tStarts the agent in "
	    "development mode.\n"));
	/* Go's order: sorted by name. */
	assert_true(strstr(buf, "-advertise ") < strstr(buf, "-bind "));
	assert_true(strstr(buf, "-ui\n") > strstr(buf, "-server-port "));
	free(buf);
}

/* Mutations of a valid file: any outcome but a crash or leak is fine
 * (ASan decides); the fuzz target goes further. */
static void
test_garbage(void **state)
{
	static const char base[] = "{\"datacenter\": \"x\", \"ports\": "
	    "{\"http\": 1}, \"retry_join\": [\"a\", \"b\"], \"services\": "
	    "[{\"a\": [1, {\"b\": null}]}], \"max_query_time\": \"5s\"}\n"
	    "# c\n- x: &a *a\n? k\n: v\n\"\\u00e9\" '\t\\";
	struct lictor_config c;
	char buf[sizeof(base)];
	struct lerr e;
	unsigned seed = 12345;
	int i, j, ok = 0;

	log_setlevel(LOG_LVL_ERROR);
	for (i = 0; i < 4000; i++) {
		memcpy(buf, base, sizeof(base));
		for (j = 0; j < 1 + i % 4; j++) {
			seed = seed * 1103515245 + 12345;
			buf[(seed >> 8) % (sizeof(base) - 1)] =
			    base[(seed >> 20) % (sizeof(base) - 1)];
		}
		config_defaults(&c);
		if (config_load_string(&c, i % 2 ? "g.json" : "g.yaml", buf,
		    (seed >> 4) % sizeof(base), &e) == 0)
			ok++;
		else
			assert_true(strncmp(e.msg, "config: g.", 10) == 0);
		config_free(&c);
	}
	log_setlevel(LOG_LVL_INFO);
	assert_true(ok > 0);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest TESTS[] = {
		T(test_defaults),
		T(test_yaml_all_keys),
		T(test_json_with_tabs),
		T(test_local_config_env),
		T(test_unsupported_keys_warn),
		T(test_unknown_keys),
		T(test_wrong_types),
		T(test_bad_durations),
		T(test_bad_strings),
		T(test_syntax_errors),
		T(test_empty_and_null),
		T(test_limits),
		T(test_hcl_and_files),
		T(test_dir_order),
		T(test_from_args_order),
		T(test_dev),
		T(test_leave_defaults),
		T(test_from_args_errors),
		T(test_validate),
		T(test_write_roundtrip),
		T(test_get),
		T(test_usage),
		T(test_garbage),
	};

	return cmocka_run_group_tests(TESTS, group_setup, group_teardown);
}
