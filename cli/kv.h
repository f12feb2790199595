/* kv.h: private to the `kv` command family (kv*.c): one entry point per
 * subcommand, the KV pair as Consul's api.KVPair, and the JSON helpers
 * they share. Not for other commands: they stand on cli.h alone. */
#ifndef LICTOR_CLI_KV_H
#define LICTOR_CLI_KV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli.h"

/* Each takes the words after the subcommand's name. */
int kv_put_main(int argc, char **argv);
int kv_get_main(int argc, char **argv);
int kv_delete_main(int argc, char **argv);
int kv_export_main(int argc, char **argv);
int kv_import_main(int argc, char **argv);

/* One entry of GET /v1/kv/ (api.KVPair). Strings are malloc'd and
 * NUL-terminated; key and value carry lengths as they may hold NULs. */
struct kv_pair {
	char *key;
	size_t key_len;
	uint8_t *value;		/* decoded from base64; never NULL */
	size_t value_len;
	char *session;		/* "" when unlocked */
	uint64_t create_index;
	uint64_t modify_index;
	uint64_t lock_index;
	uint64_t flags;
};

/* Decodes a KV list response (a JSON array, or null). Returns 0, or -1
 * with the reason in err. */
int kv_pairs_decode(const char *body, size_t len, struct kv_pair **out,
    size_t *n, struct sbuf *err);
void kv_pairs_free(struct kv_pair *p, size_t n);

/*
 * Loads JSON that may hold unsigned 64-bit integers above INT64_MAX
 * (KV flags such as Consul's semaphore flag 0xe0f69a2baa414de0), which
 * jansson cannot represent: such literals are handed to jansson as
 * marked strings that kv_json_u64 turns back into numbers. Returns NULL
 * with Go-like text in err on a syntax error.
 */
json_t *kv_json_load(const char *text, size_t len, struct sbuf *err);

/* A JSON value as a Go uint64 field: 0, or -1 with err set to how Go's
 * encoding/json names the value ("number -1", "string", ...). null
 * leaves *out untouched and returns 0, as Go does. */
int kv_json_u64(const json_t *v, uint64_t *out, struct sbuf *what);
/* How Go's UnmarshalTypeError names a JSON value. */
void kv_json_what(const json_t *v, struct sbuf *what);

/* Appends "/v1/kv/" and the key (unescaped; cli_do escapes). */
void kv_api_path(struct sbuf *b, const char *key, size_t klen);

/* Go's path.Join(prefix, key): joined by '/', then path.Clean. */
void kv_path_join(struct sbuf *out, const char *prefix, size_t plen,
    const char *key, size_t klen);

/* Runs the common start of a subcommand: help, flags, client. */
struct kv_cmd {
	const char *help;	/* Consul-style help text */
	struct flag_def *defs;	/* built by kv_cmd_start; freed by _end */
	struct cli_http http;
	struct cli_client *client;
	int argc;		/* positional arguments after the flags */
	char **argv;
};
/*
 * Returns -1 when the command is done before any request (help shown:
 * *code = 0; bad flags: *code = 1), else 0 with c->argc/argv set.
 */
int kv_cmd_start(struct kv_cmd *c, const struct flag_def *cmd_defs,
    int argc, char **argv, int *code);
/* Builds the client; on failure prints "Error connecting to Consul
 * agent: ..." and returns -1. */
int kv_cmd_client(struct kv_cmd *c);
void kv_cmd_end(struct kv_cmd *c);

/*
 * GET /v1/kv/<key> with q (plus ?stale when -stale was given). Returns 0
 * with *found false on 404; on any other failure prints Consul's
 * "Error querying Consul agent: ..." and returns -1.
 */
int kv_query(struct kv_cmd *c, const char *key, struct cli_params *q,
    struct cli_resp *r, bool *found);
/* kv_query for pairs (-recurse: the whole prefix); none found is not an
 * error. */
int kv_list(struct kv_cmd *c, const char *key, bool recurse,
    struct kv_pair **pairs, size_t *n);

/* Writes bytes to stdout as Ui.Info would (message, then "\n"). */
void kv_out(const void *p, size_t n);

#endif
