/* config.h: the agent's configuration, loaded from one schema table
 * (config_schema.c) by one loader fed by libyaml. YAML and JSON files
 * (Consul's snake_case keys; a JSON file written for Consul loads
 * unchanged), the LICTOR_LOCAL_CONFIG environment variable, and command
 * line flags (Go syntax, flags.h) all land here; later sources override
 * earlier ones and flags override files. Errors name the source, the line
 * and the key: "config: /etc/lictor.d/a.yaml:12: ports.http: invalid
 * value \"x\": want an integer". No daemon parses config its own way: init
 * writes the effective config to <rundir>/agent.json (config_write) and
 * each daemon loads that file with config_load_file(). */
#ifndef LICTOR_CONFIG_H
#define LICTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "flags.h"

struct lictor_config {
	/* mode */
	bool dev;
	bool server;
	bool bootstrap;
	int64_t bootstrap_expect; /* 0 = unset */
	/* identity */
	char *node_name;	/* default: gethostname() */
	char *node_id;		/* UUID; default generated later */
	char *datacenter;	/* default "dc1" */
	char *domain;		/* default "consul." */
	/* paths */
	char *data_dir;		/* required unless dev */
	char *pid_file;
	char *log_file;
	char *log_level;	/* "info" default; trace|debug|info|warn|err */
	bool log_json;
	/* addresses */
	char *bind_addr;	/* default "0.0.0.0" */
	char *advertise_addr;
	char *client_addr;	/* default "127.0.0.1" */
	/* ports (ports { http dns server serf_lan serf_wan }); -1 disables */
	int64_t port_http;	/* 8500 */
	int64_t port_dns;	/* 8600 */
	int64_t port_server;	/* 8300 */
	int64_t port_serf_lan;	/* 8301 */
	int64_t port_serf_wan;	/* 8302 */
	/* cluster */
	struct strlist retry_join;
	struct strlist start_join;	/* -join */
	bool rejoin_after_leave;	/* -rejoin */
	bool ui;			/* -ui / ui_config.enabled */
	bool enable_script_checks;
	bool enable_local_script_checks;
	char *encrypt;
	bool encrypt_verify_incoming;	/* true */
	bool encrypt_verify_outgoing;	/* true */
	struct strlist retry_join_wan;	/* -retry-join-wan */
	struct strlist start_join_wan;	/* -join-wan */
	int64_t retry_interval_ms;	/* 30 s */
	int64_t retry_interval_wan_ms;	/* 30 s */
	int64_t retry_max;		/* 0: forever */
	int64_t reconnect_timeout_ms;	/* 72 h (min 8 h) */
	int64_t reconnect_timeout_wan_ms; /* 72 h (min 8 h) */
	/* gossip_lan / gossip_wan (0 = the memberlist profile's value) */
	int64_t gossip_lan_nodes, gossip_lan_interval_ms, gossip_lan_probe_ms,
	    gossip_lan_probe_timeout_ms, gossip_lan_suspicion_mult,
	    gossip_lan_retransmit_mult;
	int64_t gossip_wan_nodes, gossip_wan_interval_ms, gossip_wan_probe_ms,
	    gossip_wan_probe_timeout_ms, gossip_wan_suspicion_mult,
	    gossip_wan_retransmit_mult;
	bool leave_on_terminate;
	bool skip_leave_on_interrupt;
	/* limits and timings (durations in ms) */
	int64_t kv_max_value_size;	/* limits.kv_max_value_size 524288 */
	int64_t http_max_conns_per_client; /* limits..., 200; 0: no limit */
	int64_t txn_max_req_len;	/* limits.txn_max_req_len 524288 */
	int64_t default_query_time_ms;	/* 300000 */
	int64_t max_query_time_ms;	/* 600000 */
	int64_t session_ttl_min_ms;	/* 10000 */
	int64_t tombstone_ttl_ms;	/* 900000 (15 min) */
	int64_t raft_snapshot_threshold; /* 16384 entries */
	int64_t raft_snapshot_interval_ms; /* 30 s */
	int64_t raft_trailing_logs;	/* 10240 entries kept behind one */
	/* sources, for diagnostics */
	struct strlist config_files;	/* -config-file, in order */
	struct strlist config_dirs;	/* -config-dir, in order */
};

/* Fills every field with its default (strings malloc'd). */
void config_defaults(struct lictor_config *c);
void config_free(struct lictor_config *c);

/* Merges one YAML/JSON document into c. name is used in errors. A file
 * ending in .hcl is rejected with "HCL is not supported; use YAML or
 * JSON". Unknown keys are errors. Keys Consul has that lictor does not
 * implement yet (services, checks, dns_config, acl, telemetry, ...) are
 * accepted with a warning through log_warnx, listed in config_schema.c. */
int config_load_file(struct lictor_config *c, const char *path,
    struct lerr *e);
int config_load_string(struct lictor_config *c, const char *name,
    const char *text, size_t len, struct lerr *e);
/* Loads every *.yaml, *.yml, *.json in dir in lexical order (*.hcl:
 * error as above; other files ignored). */
int config_load_dir(struct lictor_config *c, const char *dir,
    struct lerr *e);

/* The whole `lictor agent` command line: parses flags (Go syntax), then
 * loads config files and dirs named by -config-file/-config-dir in the
 * order given, then LICTOR_LOCAL_CONFIG, then re-applies the flags so
 * they win, then applies -dev defaults and validates (config_validate).
 * argv excludes the program and subcommand names. */
int config_from_args(struct lictor_config *c, int argc, char **argv,
    struct lerr *e);
/* Checks cross-field rules: data_dir required unless dev; bootstrap needs
 * server; bootstrap and bootstrap_expect exclusive; ports in range;
 * datacenter and node name charset; log level known; durations sane. */
int config_validate(struct lictor_config *c, struct lerr *e);

/* Writes c as JSON (every schema key) that config_load_file reads back
 * to the same values. */
int config_write(const struct lictor_config *c, FILE *f);
/* "config get": writes the value of one dotted key ("ports.http") as
 * text. -LE_NOTFOUND for an unknown key. */
int config_get(const struct lictor_config *c, const char *key, char *buf,
    size_t len);

/* The usage text for `lictor agent -h`. */
void config_agent_usage(FILE *f);

#endif
