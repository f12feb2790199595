/* config_schema.c: the configuration schema table and everything that is
 * driven by it alone: defaults, freeing, per-key checks (bounds, Consul's
 * rules for datacenter, encrypt, node_id ...), `config get` and
 * config_write. Where values come from (files, flags, the environment)
 * is config.c's business. */
#include "config_schema.h"
#include "gotime.h"
#include "log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F(field)	offsetof(struct lictor_config, field)
#define DUR_MAX		(INT64_MAX / 1000000)	/* ms whose ns fit int64 */
#define SIZE_MAX_CFG	(512LL << 20)

static int check_datacenter(char **, struct lerr *);
static int check_domain(char **, struct lerr *);
static int check_node_name(char **, struct lerr *);
static int check_node_id(char **, struct lerr *);
static int check_log_level(char **, struct lerr *);
static int check_encrypt(char **, struct lerr *);
static int check_advertise(char **, struct lerr *);

/* Order is the order of config_write and of sections in it. Usage texts
 * are Consul's where Consul has the flag. */
const struct cfg_key cfg_schema[] = {
	{ "dev", CT_BOOL, F(dev), .flag = "dev", .usage =
	  "Starts the agent in development mode." },
	{ "server", CT_BOOL, F(server), .flag = "server", .usage =
	  "Switches agent to server mode." },
	{ "bootstrap", CT_BOOL, F(bootstrap), .flag = "bootstrap", .usage =
	  "Sets server to bootstrap mode." },
	{ "bootstrap_expect", CT_INT, F(bootstrap_expect), .min = 0,
	  .max = 1000, .flag = "bootstrap-expect", .usage =
	  "Sets server to expect bootstrap mode." },
	{ "node_name", CT_STRING, F(node_name), .flag = "node", .usage =
	  "Name of this node. Must be unique in the cluster.",
	  .check = check_node_name },
	{ "node_id", CT_STRING, F(node_id), .flag = "node-id", .usage =
	  "A unique ID for this node across space and time. Defaults to a "
	  "randomly-generated ID that persists in the data-dir.",
	  .check = check_node_id },
	{ "datacenter", CT_STRING, F(datacenter), "dc1", .flag = "datacenter",
	  .usage = "Datacenter of the agent.", .check = check_datacenter },
	{ "domain", CT_STRING, F(domain), "consul.", .flag = "domain",
	  .usage = "Domain to use for DNS interface.",
	  .check = check_domain },
	{ "data_dir", CT_STRING, F(data_dir), .flag = "data-dir", .usage =
	  "Path to a data directory to store agent state." },
	{ "pid_file", CT_STRING, F(pid_file), .flag = "pid-file", .usage =
	  "Path to file to store agent PID." },
	{ "log_file", CT_STRING, F(log_file), .flag = "log-file", .usage =
	  "Path to the file the logs get written to" },
	{ "log_level", CT_STRING, F(log_level), "info", .flag = "log-level",
	  .usage = "Log level of the agent.", .check = check_log_level,
	  .flags = CK_RELOAD },
	{ "log_json", CT_BOOL, F(log_json), .flag = "log-json", .usage =
	  "Output logs in JSON format." },
	{ "bind_addr", CT_STRING, F(bind_addr), "0.0.0.0", .flag = "bind",
	  .usage = "Sets the bind address for cluster communication." },
	{ "advertise_addr", CT_STRING, F(advertise_addr), .flag = "advertise",
	  .usage = "Sets the advertise address to use.",
	  .check = check_advertise },
	{ "client_addr", CT_STRING, F(client_addr), "127.0.0.1",
	  .flag = "client", .usage = "Sets the address to bind for client "
	  "access. This includes RPC, DNS, HTTP, HTTPS and gRPC (if "
	  "configured)." },
	{ "ports.http", CT_INT, F(port_http), .def_int = 8500, .min = -1,
	  .max = 65535, .flag = "http-port", .usage =
	  "Sets the HTTP API port to listen on." },
	{ "ports.dns", CT_INT, F(port_dns), .def_int = 8600, .min = -1,
	  .max = 65535, .flag = "dns-port", .usage = "DNS port to use." },
	{ "ports.server", CT_INT, F(port_server), .def_int = 8300, .min = -1,
	  .max = 65535, .flag = "server-port", .usage =
	  "Sets the server port to listen on." },
	{ "ports.serf_lan", CT_INT, F(port_serf_lan), .def_int = 8301,
	  .min = -1, .max = 65535, .flag = "serf-lan-port", .usage =
	  "Sets the Serf LAN port to listen on." },
	{ "ports.serf_wan", CT_INT, F(port_serf_wan), .def_int = 8302,
	  .min = -1, .max = 65535, .flag = "serf-wan-port", .usage =
	  "Sets the Serf WAN port to listen on." },
	{ "retry_join", CT_LIST, F(retry_join), .flag = "retry-join",
	  .usage = "Address of an agent to join at start time with retries "
	  "enabled. Can be specified multiple times." },
	{ "start_join", CT_LIST, F(start_join), .flag = "join", .usage =
	  "Address of an agent to join at start time. Can be specified "
	  "multiple times." },
	{ "rejoin_after_leave", CT_BOOL, F(rejoin_after_leave),
	  .flag = "rejoin", .usage = "Ignores a previous leave and attempts "
	  "to rejoin the cluster." },
	{ "ui", CT_BOOL, F(ui), .flag = "ui", .usage =
	  "Enables the built-in static web UI server." },
	{ "ui_config.enabled", CT_BOOL, F(ui), .flags = CK_ALIAS },
	{ "enable_script_checks", CT_BOOL, F(enable_script_checks),
	  .flag = "enable-script-checks", .usage =
	  "Enables health check scripts." },
	{ "enable_local_script_checks", CT_BOOL,
	  F(enable_local_script_checks), .flag = "enable-local-script-checks",
	  .usage = "Enables health check scripts from configuration file." },
	{ "encrypt", CT_STRING, F(encrypt), .flag = "encrypt", .usage =
	  "Provides the gossip encryption key.", .check = check_encrypt },
	{ "encrypt_verify_incoming", CT_BOOL, F(encrypt_verify_incoming),
	  .def_int = 1 },
	{ "encrypt_verify_outgoing", CT_BOOL, F(encrypt_verify_outgoing),
	  .def_int = 1 },
	{ "retry_join_wan", CT_LIST, F(retry_join_wan),
	  .flag = "retry-join-wan", .usage = "Address of an agent to join "
	  "-wan at start time with retries enabled. Can be specified "
	  "multiple times." },
	{ "start_join_wan", CT_LIST, F(start_join_wan), .flag = "join-wan",
	  .usage = "Address of an agent to join -wan at start time. Can be "
	  "specified multiple times." },
	{ "retry_interval", CT_DURATION, F(retry_interval_ms),
	  .def_int = 30000, .min = 1, .max = DUR_MAX,
	  .flag = "retry-interval", .usage = "Time to wait between join "
	  "attempts." },
	{ "retry_interval_wan", CT_DURATION, F(retry_interval_wan_ms),
	  .def_int = 30000, .min = 1, .max = DUR_MAX,
	  .flag = "retry-interval-wan", .usage = "Time to wait between "
	  "join -wan attempts." },
	{ "retry_max", CT_INT, F(retry_max), .min = 0, .max = 1 << 30,
	  .flag = "retry-max", .usage = "Maximum number of join attempts. "
	  "Defaults to 0, which will retry indefinitely." },
	{ "reconnect_timeout", CT_DURATION, F(reconnect_timeout_ms),
	  .def_int = 259200000, .min = 28800000, .max = DUR_MAX },
	{ "reconnect_timeout_wan", CT_DURATION, F(reconnect_timeout_wan_ms),
	  .def_int = 259200000, .min = 28800000, .max = DUR_MAX },
	{ "gossip_lan.gossip_nodes", CT_INT, F(gossip_lan_nodes), .min = 0,
	  .max = 64 },
	{ "gossip_lan.gossip_interval", CT_DURATION, F(gossip_lan_interval_ms),
	  .min = 0, .max = DUR_MAX },
	{ "gossip_lan.probe_interval", CT_DURATION, F(gossip_lan_probe_ms),
	  .min = 0, .max = DUR_MAX },
	{ "gossip_lan.probe_timeout", CT_DURATION,
	  F(gossip_lan_probe_timeout_ms), .min = 0, .max = DUR_MAX },
	{ "gossip_lan.suspicion_mult", CT_INT, F(gossip_lan_suspicion_mult),
	  .min = 0, .max = 64 },
	{ "gossip_lan.retransmit_mult", CT_INT, F(gossip_lan_retransmit_mult),
	  .min = 0, .max = 64 },
	{ "gossip_wan.gossip_nodes", CT_INT, F(gossip_wan_nodes), .min = 0,
	  .max = 64 },
	{ "gossip_wan.gossip_interval", CT_DURATION, F(gossip_wan_interval_ms),
	  .min = 0, .max = DUR_MAX },
	{ "gossip_wan.probe_interval", CT_DURATION, F(gossip_wan_probe_ms),
	  .min = 0, .max = DUR_MAX },
	{ "gossip_wan.probe_timeout", CT_DURATION,
	  F(gossip_wan_probe_timeout_ms), .min = 0, .max = DUR_MAX },
	{ "gossip_wan.suspicion_mult", CT_INT, F(gossip_wan_suspicion_mult),
	  .min = 0, .max = 64 },
	{ "gossip_wan.retransmit_mult", CT_INT, F(gossip_wan_retransmit_mult),
	  .min = 0, .max = 64 },
	{ "leave_on_terminate", CT_BOOL, F(leave_on_terminate) },
	{ "skip_leave_on_interrupt", CT_BOOL, F(skip_leave_on_interrupt) },
	{ "limits.kv_max_value_size", CT_INT, F(kv_max_value_size),
	  .def_int = 524288, .min = 1, .max = SIZE_MAX_CFG },
	{ "limits.txn_max_req_len", CT_INT, F(txn_max_req_len),
	  .def_int = 524288, .min = 1, .max = SIZE_MAX_CFG },
	{ "limits.http_max_conns_per_client", CT_INT,
	  F(http_max_conns_per_client), .def_int = 200, .min = 0,
	  .max = 1 << 30 },
	{ "default_query_time", CT_DURATION, F(default_query_time_ms),
	  .def_int = 300000, .min = 1, .max = DUR_MAX,
	  .flag = "default-query-time", .usage = "the amount of time a "
	  "blocking query will wait before Consul will force a response. "
	  "This value can be overridden by the 'wait' query parameter." },
	{ "max_query_time", CT_DURATION, F(max_query_time_ms),
	  .def_int = 600000, .min = 1, .max = DUR_MAX,
	  .flag = "max-query-time", .usage = "the maximum amount of time a "
	  "blocking query can wait before Consul will force a response. "
	  "Consul applies jitter to the wait time. The jittered time will "
	  "be capped to MaxQueryTime." },
	{ "session_ttl_min", CT_DURATION, F(session_ttl_min_ms),
	  .def_int = 10000, .min = 1, .max = DUR_MAX },
	{ "tombstone_ttl", CT_DURATION, F(tombstone_ttl_ms),
	  .def_int = 900000, .min = 1, .max = DUR_MAX },
	{ "raft_snapshot_threshold", CT_INT, F(raft_snapshot_threshold),
	  .def_int = 16384, .min = 1, .max = 1 << 30 },
	{ "raft_snapshot_interval", CT_DURATION, F(raft_snapshot_interval_ms),
	  .def_int = 30000, .min = 1, .max = DUR_MAX },
	{ "raft_trailing_logs", CT_INT, F(raft_trailing_logs),
	  .def_int = 10240, .min = 0, .max = 1 << 30 },
	/* Flags only: where the files came from. */
	{ NULL, CT_LIST, F(config_files), .flag = "config-file", .usage =
	  "Path to a file in JSON or YAML format to read configuration "
	  "from. Can be specified multiple times." },
	{ NULL, CT_LIST, F(config_dirs), .flag = "config-dir", .usage =
	  "Path to a directory to read configuration files from. This will "
	  "read every file ending in '.json', '.yaml' or '.yml' as "
	  "configuration in this directory in alphabetical order. Can be "
	  "specified multiple times." },
};
const size_t cfg_nschema = sizeof(cfg_schema) / sizeof(cfg_schema[0]);

/* Paths that hold keys of their own in files. */
static const char *const sections[] = { "ports", "limits", "ui_config",
	"gossip_lan", "gossip_wan" };

/* Consul keys that lictor does not implement yet: a file written for
 * Consul must still load, so these are skipped with a warning. The
 * brief's list, plus sub-keys of sections lictor does implement and a
 * few common Consul keys (TLS files, syslog, log rotation). */
static const char *const unsupported[] = {
	"services", "service", "checks", "check", "dns_config", "acl",
	"telemetry", "connect", "autopilot", "performance", "recursors",
	"addresses", "watches", "node_meta", "disable_update_check",
	"disable_host_node_id", "raft_protocol",
	"advertise_addr_wan", "translate_wan_addrs",
	"serf_lan", "serf_wan", "primary_datacenter",
	"enable_debug", "license_path", "unix_sockets", "tls",
	"verify_incoming", "verify_outgoing",
	"ca_file", "ca_path", "cert_file", "key_file",
	"verify_server_hostname", "auto_encrypt", "enable_syslog",
	"syslog_facility", "log_rotate_bytes", "log_rotate_duration",
	"log_rotate_max_files", "disable_remote_exec", "http_config",
	"ports.https", "ports.grpc", "ports.grpc_tls",
	"ports.sidecar_min_port", "ports.sidecar_max_port",
	"ports.expose_min_port", "ports.expose_max_port",
	"limits.https_handshake_timeout",
	"limits.rpc_handshake_timeout", "limits.rpc_client_timeout",
	"limits.rpc_max_burst", "limits.rpc_max_conns_per_client",
	"limits.rpc_rate", "limits.request_limits",
	"ui_config.dir", "ui_config.content_path",
	"ui_config.metrics_provider", "ui_config.metrics_provider_files",
	"ui_config.metrics_provider_options_json", "ui_config.metrics_proxy",
	"ui_config.dashboard_url_templates",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

const struct cfg_key *
cfg_lookup(const char *path)
{
	size_t i;

	for (i = 0; i < cfg_nschema; i++)
		if (cfg_schema[i].key != NULL &&
		    strcmp(cfg_schema[i].key, path) == 0)
			return &cfg_schema[i];
	return NULL;
}

bool
cfg_is_section(const char *path)
{
	size_t i;

	for (i = 0; i < NELEM(sections); i++)
		if (strcmp(sections[i], path) == 0)
			return true;
	return false;
}

bool
cfg_unsupported(const char *path)
{
	size_t i;

	for (i = 0; i < NELEM(unsupported); i++)
		if (strcmp(unsupported[i], path) == 0)
			return true;
	return false;
}

void *
cfg_field(const struct lictor_config *c, const struct cfg_key *k)
{
	return (char *)c + k->off;
}

/* ---- checkers: the reason alone goes to e->msg ---------------------- */

static int
check_datacenter(char **v, struct lerr *e)
{
	char *p;

	/* Consul lowercases: DNS is case-insensitive, DC1 is dc1. */
	for (p = *v; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (**v == '\0' || (*v)[strspn(*v,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-")] != '\0')
		return lerr_set(e, LE_CONFIG, "Datacenter must be "
		    "alpha-numeric with underscores and hyphens only");
	return 0;
}

static int
check_domain(char **v, struct lerr *e)
{
	size_t n = strlen(*v);
	char *p;

	for (p = *v; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (n == 0 || strspn(*v, "abcdefghijklmnopqrstuvwxyz0123456789-_.") !=
	    n || strstr(*v, "..") != NULL || **v == '.')
		return lerr_set(e, LE_CONFIG, "want a DNS domain such as "
		    "\"consul.\"");
	/* dnsd matches fully qualified names, as Consul's dns.Fqdn. */
	if ((*v)[n - 1] != '.') {
		if ((p = realloc(*v, n + 2)) == NULL)
			abort();
		p[n] = '.';
		p[n + 1] = '\0';
		*v = p;
	}
	return 0;
}

static int
check_node_name(char **v, struct lerr *e)
{
	char host[256], *s = *v, *p;
	size_t n;

	/* Consul trims spaces and falls back to the host name. */
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	memmove(*v, s, n);
	(*v)[n] = '\0';
	if (n == 0 && gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		if ((p = strdup(host)) == NULL)
			abort();
		free(*v);
		*v = p;
	}
	for (p = *v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return lerr_set(e, LE_CONFIG,
			    "control characters are not allowed");
	return 0;
}

static int
check_node_id(char **v, struct lerr *e)
{
	char *p;
	size_t i;

	if (**v == '\0')	/* generated later */
		return 0;
	for (p = *v; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	for (i = 0, p = *v; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? p[i] != '-' :
		    !isxdigit((unsigned char)p[i]))
			break;
	if (i != 36 || p[36] != '\0')
		return lerr_set(e, LE_CONFIG, "want a UUID such as "
		    "\"adf4238a-882b-9ddc-4a9d-5b6758e4159e\"");
	return 0;
}

static int
check_log_level(char **v, struct lerr *e)
{
	enum log_level l;

	if (log_parse_level(*v, &l) != 0)
		return lerr_set(e, LE_CONFIG,
		    "want trace, debug, info, warn or err");
	return 0;
}

static int
b64_val(char c)
{
	const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/", *p;

	if (c == '\0' || (p = strchr(t, c)) == NULL)
		return -1;
	return (int)(p - t);
}

/* Consul: base64.StdEncoding then memberlist.ValidateKey. */
static int
check_encrypt(char **v, struct lerr *e)
{
	const char *s = *v;
	size_t n = strlen(s), i, bytes = 0;

	if (n == 0)		/* no gossip encryption */
		return 0;
	for (i = 0; i < n; i += 4) {
		size_t j, pad = 0;

		if (n - i < 4)
			goto bad;
		for (j = 0; j < 4; j++) {
			if (j >= 2 && s[i + j] == '=' && i + 4 == n &&
			    (j == 3 || s[i + 3] == '=')) {
				pad = 4 - j;
				break;
			}
			if (b64_val(s[i + j]) < 0) {
				i += j;
				goto bad;
			}
		}
		bytes += 3 - pad;
	}
	if (bytes != 16 && bytes != 24 && bytes != 32)
		return lerr_set(e, LE_CONFIG, "encrypt has invalid key: key "
		    "size must be 16, 24 or 32 bytes");
	return 0;
bad:
	return lerr_set(e, LE_CONFIG, "encrypt has invalid key: illegal "
	    "base64 data at input byte %zu", i);
}

static int
check_advertise(char **v, struct lerr *e)
{
	if (strcmp(*v, "0.0.0.0") == 0 || strcmp(*v, "::") == 0 ||
	    strcmp(*v, "[::]") == 0)
		return lerr_set(e, LE_CONFIG, "Advertise address cannot be %s",
		    *v);
	return 0;
}

/* Every string must survive config_write and libyaml's reader. */
static bool
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	int n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
		} else
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

void
cfg_range_text(const struct cfg_key *k, char *buf, size_t len)
{
	char lo[40], hi[40];

	if (k->type == CT_DURATION) {
		go_duration_format(k->min * 1000000, lo, sizeof(lo));
		go_duration_format(k->max * 1000000, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%lld", (long long)k->min);
		snprintf(hi, sizeof(hi), "%lld", (long long)k->max);
	}
	if (k->max == INT64_MAX || (k->type == CT_DURATION &&
	    k->max == DUR_MAX))
		snprintf(buf, len, "must be at least %s", lo);
	else
		snprintf(buf, len, "must be between %s and %s", lo, hi);
}

static int
check_int(const struct cfg_key *k, int64_t v, struct lerr *e)
{
	char r[100];

	if (k->type == CT_BOOL || (v >= k->min && v <= k->max))
		return 0;
	cfg_range_text(k, r, sizeof(r));
	return lerr_set(e, LE_CONFIG, "%s", r);
}

int
cfg_store_int(struct lictor_config *c, const struct cfg_key *k, int64_t v,
    struct lerr *e)
{
	int rv;

	if ((rv = check_int(k, v, e)) != 0)
		return rv;
	if (k->type == CT_BOOL)
		*(bool *)cfg_field(c, k) = v != 0;
	else
		*(int64_t *)cfg_field(c, k) = v;
	return 0;
}

int
cfg_store_string(struct lictor_config *c, const struct cfg_key *k,
    const char *v, struct lerr *e)
{
	char **field = cfg_field(c, k), *s;
	int rv;

	if (!utf8_ok(v))
		return lerr_set(e, LE_CONFIG, "not valid UTF-8");
	if ((s = strdup(v)) == NULL)
		abort();
	if (k->check != NULL && (rv = k->check(&s, e)) != 0) {
		free(s);
		return rv;
	}
	free(*field);
	*field = s;
	return 0;
}

int
cfg_store_item(struct lictor_config *c, const struct cfg_key *k,
    const char *v, struct lerr *e)
{
	if (!utf8_ok(v))
		return lerr_set(e, LE_CONFIG, "not valid UTF-8");
	strlist_push(cfg_field(c, k), v);
	return 0;
}

int
cfg_check_field(struct lictor_config *c, const struct cfg_key *k,
    struct lerr *e)
{
	struct strlist *l;
	char **s;
	size_t i;

	switch (k->type) {
	case CT_BOOL:
		return 0;
	case CT_INT:
	case CT_DURATION:
		return check_int(k, *(int64_t *)cfg_field(c, k), e);
	case CT_STRING:
		s = cfg_field(c, k);
		if (*s == NULL)
			return 0;
		if (!utf8_ok(*s))
			return lerr_set(e, LE_CONFIG, "not valid UTF-8");
		return k->check != NULL ? k->check(s, e) : 0;
	case CT_LIST:
		l = cfg_field(c, k);
		for (i = 0; i < l->n; i++)
			if (!utf8_ok(l->v[i]))
				return lerr_set(e, LE_CONFIG,
				    "not valid UTF-8");
		return 0;
	}
	return 0;
}

int
cfg_format(const struct lictor_config *c, const struct cfg_key *k,
    char *buf, size_t len)
{
	const struct strlist *l;
	const char *s;
	char dur[40];
	size_t i, n = 0, need = 0;

	if (len == 0)
		return -LE_TOOBIG;
	buf[0] = '\0';
	switch (k->type) {
	case CT_BOOL:
		need = (size_t)snprintf(buf, len, "%s",
		    *(bool *)cfg_field(c, k) ? "true" : "false");
		break;
	case CT_INT:
		need = (size_t)snprintf(buf, len, "%lld",
		    (long long)*(int64_t *)cfg_field(c, k));
		break;
	case CT_DURATION:
		go_duration_format(*(int64_t *)cfg_field(c, k) * 1000000, dur,
		    sizeof(dur));
		need = (size_t)snprintf(buf, len, "%s", dur);
		break;
	case CT_STRING:
		s = *(char **)cfg_field(c, k);
		need = (size_t)snprintf(buf, len, "%s", s ? s : "");
		break;
	case CT_LIST:
		l = cfg_field(c, k);
		for (i = 0; i < l->n; i++) {
			need += strlen(l->v[i]) + (i > 0);
			if (n < len)
				n += (size_t)snprintf(buf + n, len - n, "%s%s",
				    i > 0 ? "," : "", l->v[i]);
		}
		break;
	}
	return need >= len ? -LE_TOOBIG : 0;
}

/* ---- the public schema-driven operations ----------------------------- */

void
config_defaults(struct lictor_config *c)
{
	const struct cfg_key *k;
	char host[256];
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < cfg_nschema; i++) {
		k = &cfg_schema[i];
		if (k->flags & CK_ALIAS)
			continue;
		switch (k->type) {
		case CT_BOOL:
			*(bool *)cfg_field(c, k) = k->def_int != 0;
			break;
		case CT_INT:
		case CT_DURATION:
			*(int64_t *)cfg_field(c, k) = k->def_int;
			break;
		case CT_STRING:
			if (k->def_str != NULL &&
			    (*(char **)cfg_field(c, k) = strdup(k->def_str)) ==
			    NULL)
				abort();
			break;
		case CT_LIST:
			break;
		}
	}
	/* The one default that is not a constant. */
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if ((c->node_name = strdup(host)) == NULL)
		abort();
}

void
config_free(struct lictor_config *c)
{
	const struct cfg_key *k;
	size_t i;

	for (i = 0; i < cfg_nschema; i++) {
		k = &cfg_schema[i];
		if (k->type == CT_STRING) {
			free(*(char **)cfg_field(c, k));
			*(char **)cfg_field(c, k) = NULL;
		} else if (k->type == CT_LIST)
			strlist_free(cfg_field(c, k));
	}
}

int
config_get(const struct lictor_config *c, const char *key, char *buf,
    size_t len)
{
	const struct cfg_key *k;

	if ((k = cfg_lookup(key)) == NULL)
		return -LE_NOTFOUND;
	return cfg_format(c, k, buf, len);
}

/* A JSON string that libyaml reads back byte for byte: escapes every
 * character YAML does not allow raw (C0, DEL, C1, U+FFFE/F) and the ones
 * it would fold as line breaks inside quotes (NEL, U+2028/9). */
static void
json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p == '\r')
			fputs("\\r", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fprintf(f, "\\u%04x", p[1]);
			p++;
		} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 ||
		    p[2] == 0xa9)) {
			fprintf(f, "\\u%04x", 0x2000 | (p[2] & 0x3f));
			p += 2;
		} else if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe ||
		    p[2] == 0xbf)) {
			fprintf(f, "\\u%04x", 0xffc0 | (p[2] & 0x3f));
			p += 2;
		} else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
write_value(FILE *f, const struct lictor_config *c, const struct cfg_key *k)
{
	const struct strlist *l;
	char dur[40];
	size_t i;

	switch (k->type) {
	case CT_BOOL:
		fputs(*(bool *)cfg_field(c, k) ? "true" : "false", f);
		break;
	case CT_INT:
		fprintf(f, "%lld", (long long)*(int64_t *)cfg_field(c, k));
		break;
	case CT_DURATION:
		go_duration_format(*(int64_t *)cfg_field(c, k) * 1000000, dur,
		    sizeof(dur));
		json_string(f, dur);
		break;
	case CT_STRING:
		if (*(char **)cfg_field(c, k) == NULL)
			fputs("null", f);
		else
			json_string(f, *(char **)cfg_field(c, k));
		break;
	case CT_LIST:
		l = cfg_field(c, k);
		fputc('[', f);
		for (i = 0; i < l->n; i++) {
			fputs(i > 0 ? ", " : "", f);
			json_string(f, l->v[i]);
		}
		fputc(']', f);
		break;
	}
}

int
config_write(const struct lictor_config *c, FILE *f)
{
	const struct cfg_key *k, *o;
	const char *dot;
	size_t i, j, plen;
	bool first = true, inner;

	fputs("{", f);
	for (i = 0; i < cfg_nschema; i++) {
		k = &cfg_schema[i];
		if (k->key == NULL || (k->flags & CK_ALIAS))
			continue;
		if ((dot = strchr(k->key, '.')) == NULL) {
			fprintf(f, "%s\n  \"%s\": ", first ? "" : ",", k->key);
			write_value(f, c, k);
			first = false;
			continue;
		}
		/* A section: written whole where its first key appears. */
		plen = (size_t)(dot - k->key);
		for (j = 0; j < i; j++)
			if (cfg_schema[j].key != NULL &&
			    !(cfg_schema[j].flags & CK_ALIAS) &&
			    strncmp(cfg_schema[j].key, k->key, plen + 1) == 0)
				break;
		if (j < i)
			continue;
		fprintf(f, "%s\n  \"%.*s\": {", first ? "" : ",", (int)plen,
		    k->key);
		first = false;
		inner = true;
		for (j = i; j < cfg_nschema; j++) {
			o = &cfg_schema[j];
			if (o->key == NULL || (o->flags & CK_ALIAS) ||
			    strncmp(o->key, k->key, plen + 1) != 0)
				continue;
			fprintf(f, "%s\n    \"%s\": ", inner ? "" : ",",
			    o->key + plen + 1);
			write_value(f, c, o);
			inner = false;
		}
		fputs("\n  }", f);
	}
	fputs("\n}\n", f);
	return ferror(f) ? -LE_IO : 0;
}
