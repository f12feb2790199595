/* http_catalog.c: the catalog's HTTP API with Consul's semantics:
 * PUT /v1/catalog/register and /v1/catalog/deregister (nodes and checks;
 * services come later and are refused until then), GET /v1/catalog/nodes
 * (?node-meta), /v1/catalog/node/<node>, /v1/health/node/<node> (blocking
 * ?index/?wait, ?stale/?consistent), /v1/catalog/datacenters.
 *
 * Bodies are read as Consul's decoder reads them (lib.DecodeJSON: Go's
 * encoding/json with unknown fields refused, field names in any case),
 * with Go's error texts; then Consul's HTTP handler and Catalog endpoint
 * defaults apply (Datacenter, a check's Node, CheckID and Type) and kvd
 * checks the rest before Raft. Errors past decoding are RPC errors in
 * Consul, answered 500 with their text. */
#include "httpd.h"
#include "go_json.h"
#include "gotime.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CAT_RPC_TIMEOUT_MS 10000
#define CAT_BLOCK_SLACK_MS 15000

/* ---- decoding request bodies ---- */

struct jdec {
	char err[512];
	bool failed;
};

/* The first error wins, as Go's decoder keeps its first saved error. */
static bool
jfail(struct jdec *d, const char *fmt, ...) __attribute__((format(printf,
    2, 3)));

static bool
jfail(struct jdec *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->failed) {
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
		d->failed = true;
	}
	return false;
}

static bool
type_error(struct jdec *d, const json_t *v, const char *st,
    const char *field, const char *type)
{
	return jfail(d, "json: cannot unmarshal %s into Go struct field "
	    "%s.%s of type %s", go_json_kind(v), st, field, type);
}

static bool
unknown_field(struct jdec *d, const char *key)
{
	char q[300];

	go_json_quote(key, strlen(key), q, sizeof(q));
	return jfail(d, "json: unknown field %s", q);
}

/* A Go string field: null leaves it as it was. */
static bool
jstr(struct jdec *d, json_t *v, const char *st, const char *field,
    const char *type, const char **s, size_t *len)
{
	if (json_is_null(v))
		return true;
	if (!json_is_string(v))
		return type_error(d, v, st, field, type);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return true;
}

static bool
jbool(struct jdec *d, json_t *v, const char *st, const char *field, bool *b)
{
	if (json_is_null(v))
		return true;
	if (!json_is_boolean(v))
		return type_error(d, v, st, field, "bool");
	*b = json_is_true(v);
	return true;
}

/* An integer field of Go type `type` within [lo, hi]; a fraction or an
 * overflow is "number <literal>", as Go reports it. */
static bool
jint(struct jdec *d, json_t *v, const char *st, const char *field,
    const char *type, int64_t lo, int64_t hi, int64_t *out)
{
	if (json_is_null(v))
		return true;
	if (json_is_integer(v) && json_integer_value(v) >= lo &&
	    json_integer_value(v) <= hi) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_integer(v))
		return jfail(d, "json: cannot unmarshal number %lld into Go "
		    "struct field %s.%s of type %s",
		    (long long)json_integer_value(v), st, field, type);
	if (json_is_real(v))
		return jfail(d, "json: cannot unmarshal number %g into Go "
		    "struct field %s.%s of type %s", json_real_value(v), st,
		    field, type);
	return type_error(d, v, st, field, type);
}

/* map[string]string: null is a nil map, {} an empty one. */
struct smap {
	bool present;
	uint32_t n;
	const char **k, **v;
	size_t *kl, *vl;
};

static void
smap_free(struct smap *m)
{
	free(m->k);
	free(m->v);
	free(m->kl);
	free(m->vl);
	memset(m, 0, sizeof(*m));
}

static bool
jmap(struct jdec *d, json_t *v, const char *st, const char *field,
    struct smap *m)
{
	const char *key;
	json_t *val;
	size_t n, i = 0;

	if (json_is_null(v)) {
		smap_free(m);
		return true;
	}
	if (!json_is_object(v))
		return type_error(d, v, st, field, "map[string]string");
	smap_free(m);
	n = json_object_size(v);
	if (n > CAT_MAP_MAX)
		return jfail(d, "%s: more than %u entries", field,
		    CAT_MAP_MAX);
	m->present = true;
	m->k = xcalloc(n ? n : 1, sizeof(*m->k));
	m->v = xcalloc(n ? n : 1, sizeof(*m->v));
	m->kl = xcalloc(n ? n : 1, sizeof(*m->kl));
	m->vl = xcalloc(n ? n : 1, sizeof(*m->vl));
	json_object_foreach(v, key, val) {
		if (json_is_null(val)) {
			/* Go stores the zero value. */
			m->v[i] = "";
			m->vl[i] = 0;
		} else if (!json_is_string(val)) {
			return type_error(d, val, st, field, "string");
		} else {
			m->v[i] = json_string_value(val);
			m->vl[i] = json_string_length(val);
		}
		m->k[i] = key;
		m->kl[i] = strlen(key);
		i++;
	}
	m->n = (uint32_t)i;
	return true;
}

static void
smap_out(const struct smap *in, struct msg_cat_strmap *out)
{
	memset(out, 0, sizeof(*out));
	out->present = in->present;
	out->n = in->n;
	out->keys = in->k;
	out->klens = in->kl;
	out->vals = in->v;
	out->vlens = in->vl;
}

/* []string */
struct slist {
	bool present;
	uint32_t n;
	const char **s;
	size_t *l;
};

static bool
jlist(struct jdec *d, json_t *v, const char *st, const char *field,
    struct slist *l)
{
	json_t *it;
	size_t i;

	free(l->s);
	free(l->l);
	memset(l, 0, sizeof(*l));
	if (json_is_null(v))
		return true;
	if (!json_is_array(v))
		return type_error(d, v, st, field, "[]string");
	if (json_array_size(v) > CAT_MAP_MAX)
		return jfail(d, "%s: more than %u items", field, CAT_MAP_MAX);
	l->present = true;
	l->s = xcalloc(json_array_size(v) + 1, sizeof(*l->s));
	l->l = xcalloc(json_array_size(v) + 1, sizeof(*l->l));
	json_array_foreach(v, i, it) {
		if (json_is_null(it)) {
			l->s[i] = "";
		} else if (!json_is_string(it)) {
			return type_error(d, it, st, field, "string");
		} else {
			l->s[i] = json_string_value(it);
			l->l[i] = json_string_length(it);
		}
		l->n++;
	}
	return true;
}

/* Field names match without case, as Go's decoder matches them. */
static int
field_of(const char *key, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(key, names[i]) == 0)
			return i;
	return -1;
}

/* ---- HealthCheckDefinition ---- */

struct def {
	const char *str[11];
	size_t len[11];
	bool tls_skip_verify, grpc_use_tls;
	json_t *header;		/* borrowed: a map of string lists */
	struct slist script_args;
	int64_t output_max_size;
	int64_t interval, timeout, dcsa, ttl;	/* ns */
};

enum {
	D_HTTP, D_TLSSERVERNAME, D_METHOD, D_BODY, D_TCP, D_H2PING,
	D_DOCKER, D_SHELL, D_GRPC, D_ALIASNODE, D_ALIASSERVICE,
};

static const char *const def_str_names[] = {
	"HTTP", "TLSServerName", "Method", "Body", "TCP", "H2PING",
	"DockerContainerID", "Shell", "GRPC", "AliasNode", "AliasService",
};

/* A duration given as Go's text or as nanoseconds; anything else is
 * ignored, as the definition's UnmarshalJSON ignores it. */
static bool
jduration(struct jdec *d, json_t *v, int64_t *ns)
{
	if (json_is_string(v)) {
		char q[300];

		if (go_duration_parse(json_string_value(v), ns) != 0) {
			go_json_quote(json_string_value(v),
			    json_string_length(v), q, sizeof(q));
			return jfail(d, "time: invalid duration %s", q);
		}
	} else if (json_is_number(v)) {
		*ns = (int64_t)json_number_value(v);
	}
	return true;
}

/* The definition is decoded by its own json.Unmarshal in Consul, which
 * skips unknown fields. */
static bool
jdef(struct jdec *d, json_t *v, const char *path, struct def *df)
{
	static const char *const names[] = {
		"Interval", "Timeout", "DeregisterCriticalServiceAfter",
		"TTL", "TLSSkipVerify", "GRPCUseTLS", "Header", "ScriptArgs",
		"OutputMaxSize",
	};
	const char *key;
	json_t *val;

	if (json_is_null(v))
		return true;
	if (!json_is_object(v))
		return type_error(d, v, "HealthCheck", path,
		    "structs.HealthCheckDefinition");
	json_object_foreach(v, key, val) {
		int f = field_of(key, def_str_names, 11);
		bool ok = true;

		if (f >= 0) {
			ok = jstr(d, val, "", def_str_names[f], "string",
			    &df->str[f], &df->len[f]);
			if (!ok)
				return false;
			continue;
		}
		switch (field_of(key, names, 9)) {
		case 0:
			ok = jduration(d, val, &df->interval);
			break;
		case 1:
			ok = jduration(d, val, &df->timeout);
			break;
		case 2:
			ok = jduration(d, val, &df->dcsa);
			break;
		case 3:
			ok = jduration(d, val, &df->ttl);
			break;
		case 4:
			ok = jbool(d, val, "", "TLSSkipVerify",
			    &df->tls_skip_verify);
			break;
		case 5:
			ok = jbool(d, val, "", "GRPCUseTLS", &df->grpc_use_tls);
			break;
		case 6: {
			const char *hk;
			json_t *hv, *it;
			size_t i;

			if (json_is_null(val)) {
				df->header = NULL;
				break;
			}
			if (!json_is_object(val))
				return type_error(d, val, "", "Header",
				    "map[string][]string");
			json_object_foreach(val, hk, hv) {
				if (json_is_null(hv))
					continue;
				if (!json_is_array(hv))
					return type_error(d, hv, "", "Header",
					    "[]string");
				json_array_foreach(hv, i, it)
					if (!json_is_string(it) &&
					    !json_is_null(it))
						return type_error(d, it, "",
						    "Header", "string");
			}
			df->header = val;
			break;
		}
		case 7:
			ok = jlist(d, val, "", "ScriptArgs", &df->script_args);
			break;
		case 8:
			ok = jint(d, val, "", "OutputMaxSize", "uint", 0,
			    UINT32_MAX, &df->output_max_size);
			break;
		default:
			break;	/* ignored */
		}
		if (!ok)
			return false;
	}
	return true;
}

static void
put_duration(struct sbuf *b, bool *first, const char *name, int64_t ns)
{
	char buf[64];

	if (ns == 0)
		return;
	go_duration_format(ns, buf, sizeof(buf));
	sbuf_printf(b, "%s\"%s\":\"%s\"", *first ? "" : ",", name, buf);
	*first = false;
}

static void
put_str(struct sbuf *b, bool *first, const char *name, const char *s,
    size_t n)
{
	if (s == NULL || n == 0)
		return;
	sbuf_printf(b, "%s\"%s\":", *first ? "" : ",", name);
	sbuf_json_str(b, s, n);
	*first = false;
}

static void
put_bool(struct sbuf *b, bool *first, const char *name, bool v)
{
	if (!v)
		return;
	sbuf_printf(b, "%s\"%s\":true", *first ? "" : ",", name);
	*first = false;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* As HealthCheckDefinition.MarshalJSON writes it: its own Interval,
 * OutputMaxSize, Timeout and DeregisterCriticalServiceAfter (durations as
 * text) first, then the other fields in declaration order, every one
 * omitted when empty; TTL stays nanoseconds. */
static void
def_render(const struct def *df, struct sbuf *b)
{
	bool first = true;

	sbuf_addc(b, '{');
	put_duration(b, &first, "Interval", df->interval);
	if (df->output_max_size > 0) {
		sbuf_printf(b, "%s\"OutputMaxSize\":%lld", first ? "" : ",",
		    (long long)df->output_max_size);
		first = false;
	}
	put_duration(b, &first, "Timeout", df->timeout);
	put_duration(b, &first, "DeregisterCriticalServiceAfter", df->dcsa);
	put_str(b, &first, "HTTP", df->str[D_HTTP], df->len[D_HTTP]);
	put_str(b, &first, "TLSServerName", df->str[D_TLSSERVERNAME],
	    df->len[D_TLSSERVERNAME]);
	put_bool(b, &first, "TLSSkipVerify", df->tls_skip_verify);
	if (df->header != NULL && json_object_size(df->header) > 0) {
		size_t n = json_object_size(df->header), i = 0;
		const char **keys = xcalloc(n, sizeof(*keys));
		const char *k;
		json_t *v;

		json_object_foreach(df->header, k, v)
			keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_str);
		sbuf_printf(b, "%s\"Header\":{", first ? "" : ",");
		first = false;
		for (i = 0; i < n; i++) {
			json_t *arr = json_object_get(df->header, keys[i]), *it;
			size_t j;

			if (i > 0)
				sbuf_addc(b, ',');
			sbuf_json_str(b, keys[i], strlen(keys[i]));
			sbuf_addc(b, ':');
			if (json_is_null(arr)) {
				sbuf_adds(b, "null");
				continue;
			}
			sbuf_addc(b, '[');
			json_array_foreach(arr, j, it) {
				if (j > 0)
					sbuf_addc(b, ',');
				if (json_is_string(it))
					sbuf_json_str(b, json_string_value(it),
					    json_string_length(it));
				else
					sbuf_adds(b, "\"\"");
			}
			sbuf_addc(b, ']');
		}
		sbuf_addc(b, '}');
		free(keys);
	}
	put_str(b, &first, "Method", df->str[D_METHOD], df->len[D_METHOD]);
	put_str(b, &first, "Body", df->str[D_BODY], df->len[D_BODY]);
	put_str(b, &first, "TCP", df->str[D_TCP], df->len[D_TCP]);
	put_str(b, &first, "H2PING", df->str[D_H2PING], df->len[D_H2PING]);
	if (df->script_args.n > 0) {
		sbuf_printf(b, "%s\"ScriptArgs\":[", first ? "" : ",");
		first = false;
		for (uint32_t i = 0; i < df->script_args.n; i++) {
			if (i > 0)
				sbuf_addc(b, ',');
			sbuf_json_str(b, df->script_args.s[i],
			    df->script_args.l[i]);
		}
		sbuf_addc(b, ']');
	}
	put_str(b, &first, "DockerContainerID", df->str[D_DOCKER],
	    df->len[D_DOCKER]);
	put_str(b, &first, "Shell", df->str[D_SHELL], df->len[D_SHELL]);
	put_str(b, &first, "GRPC", df->str[D_GRPC], df->len[D_GRPC]);
	put_bool(b, &first, "GRPCUseTLS", df->grpc_use_tls);
	put_str(b, &first, "AliasNode", df->str[D_ALIASNODE],
	    df->len[D_ALIASNODE]);
	put_str(b, &first, "AliasService", df->str[D_ALIASSERVICE],
	    df->len[D_ALIASSERVICE]);
	if (df->ttl != 0) {
		sbuf_printf(b, "%s\"TTL\":%lld", first ? "" : ",",
		    (long long)df->ttl);
		first = false;
	}
	sbuf_addc(b, '}');
}

/* CheckType.Type(): what Catalog.Register fills in for a check that
 * names no type. */
static const char *
def_type(const struct def *df)
{
	bool iv = df->interval > 0;

	if (df->len[D_GRPC] > 0 && iv)
		return "grpc";
	if (df->len[D_HTTP] > 0 && iv)
		return "http";
	if (df->ttl > 0)
		return "ttl";
	if (df->len[D_TCP] > 0 && iv)
		return "tcp";
	if (df->len[D_ALIASNODE] > 0 || df->len[D_ALIASSERVICE] > 0)
		return "alias";
	if (df->len[D_DOCKER] > 0 && df->script_args.n > 0 && iv)
		return "docker";
	if (df->script_args.n > 0 && iv)
		return "script";
	if (df->len[D_H2PING] > 0 && iv)
		return "h2ping";
	return "";
}

/* ---- HealthCheck ---- */

struct dcheck {
	struct msg_cat_check c;
	struct slist tags;
	struct def def;
	struct sbuf defjson;
};

static void
dcheck_free(struct dcheck *dc)
{
	free(dc->tags.s);
	free(dc->tags.l);
	free(dc->def.script_args.s);
	free(dc->def.script_args.l);
	sbuf_free(&dc->defjson);
}

/* path: "Check" or "Checks", for Go's error context. */
static bool
jcheck(struct jdec *d, json_t *v, const char *path, struct dcheck *dc)
{
	static const char *const names[] = {
		"Node", "CheckID", "Name", "Status", "Notes", "Output",
		"ServiceID", "ServiceName", "ServiceTags", "Type", "Interval",
		"Timeout", "ExposedPort", "PeerName", "Definition",
		"CreateIndex", "ModifyIndex",
	};
	struct msg_cat_check *c = &dc->c;
	const char *key, *peer = NULL;
	size_t peer_len = 0;
	char fp[64];
	json_t *val;
	int64_t x;

	json_object_foreach(v, key, val) {
		int f = field_of(key, names, 17);
		bool ok = true;

		if (f < 0)
			return unknown_field(d, key);
		snprintf(fp, sizeof(fp), "%s.%s", path, names[f]);
		switch (f) {
		case 0:
			ok = jstr(d, val, "HealthCheck", fp, "string", &c->node,
			    &c->node_len);
			break;
		case 1:
			ok = jstr(d, val, "HealthCheck", fp, "types.CheckID",
			    &c->check_id, &c->check_id_len);
			break;
		case 2:
			ok = jstr(d, val, "HealthCheck", fp, "string", &c->name,
			    &c->name_len);
			break;
		case 3:
			ok = jstr(d, val, "HealthCheck", fp, "string",
			    &c->status, &c->status_len);
			break;
		case 4:
			ok = jstr(d, val, "HealthCheck", fp, "string", &c->notes,
			    &c->notes_len);
			break;
		case 5:
			ok = jstr(d, val, "HealthCheck", fp, "string",
			    &c->output, &c->output_len);
			break;
		case 6:
			ok = jstr(d, val, "HealthCheck", fp, "string",
			    &c->service_id, &c->service_id_len);
			break;
		case 7:
			ok = jstr(d, val, "HealthCheck", fp, "string",
			    &c->service_name, &c->service_name_len);
			break;
		case 8:
			ok = jlist(d, val, "HealthCheck", fp, &dc->tags);
			break;
		case 9:
			ok = jstr(d, val, "HealthCheck", fp, "string", &c->type,
			    &c->type_len);
			break;
		case 10:
			ok = jstr(d, val, "HealthCheck", fp, "string",
			    &c->interval, &c->interval_len);
			break;
		case 11:
			ok = jstr(d, val, "HealthCheck", fp, "string",
			    &c->timeout, &c->timeout_len);
			break;
		case 12:
			ok = jint(d, val, "HealthCheck", fp, "int", INT64_MIN,
			    INT64_MAX, &c->exposed_port);
			break;
		case 13:
			ok = jstr(d, val, "HealthCheck", fp, "string", &peer,
			    &peer_len);
			break;
		case 14:
			ok = jdef(d, val, fp, &dc->def);
			break;
		default:
			ok = jint(d, val, "HealthCheck", fp, "uint64", 0,
			    INT64_MAX, &x);
			break;
		}
		if (!ok)
			return false;
	}
	if (peer_len > 0)
		return jfail(d, "peering is not supported");
	return true;
}

/* ---- RegisterRequest ---- */

struct dreg {
	json_t *root;
	const char *dc, *id, *node, *address, *peer;
	size_t dc_len, id_len, node_len, address_len, peer_len;
	struct smap tagged, meta;
	bool skip;
	bool service;		/* a non-null Service */
	struct dcheck *checks;	/* Checks, then Check */
	uint32_t n_checks;
};

static void
dreg_free(struct dreg *r)
{
	for (uint32_t i = 0; i < r->n_checks; i++)
		dcheck_free(&r->checks[i]);
	free(r->checks);
	smap_free(&r->tagged);
	smap_free(&r->meta);
	json_decref(r->root);
}

static struct dcheck *
dreg_add_check(struct dreg *r)
{
	struct dcheck *dc;

	r->checks = xrealloc(r->checks, (r->n_checks + 1) * sizeof(*dc));
	dc = &r->checks[r->n_checks++];
	memset(dc, 0, sizeof(*dc));
	sbuf_init(&dc->defjson);
	return dc;
}

static bool
jregister(struct jdec *d, json_t *v, struct dreg *r)
{
	static const char *const names[] = {
		"Datacenter", "ID", "Node", "Address", "TaggedAddresses",
		"NodeMeta", "Service", "Check", "Checks", "SkipNodeUpdate",
		"PeerName", "Token", "CreateIndex", "ModifyIndex",
	};
	const char *key, *tok;
	json_t *val, *single = NULL, *it;
	size_t i, tl;
	int64_t x;

	if (json_is_null(v))
		return true;
	if (!json_is_object(v))
		return jfail(d, "json: cannot unmarshal %s into Go value of "
		    "type structs.RegisterRequest", go_json_kind(v));
	json_object_foreach(v, key, val) {
		int f = field_of(key, names, 14);
		bool ok = true;

		if (f < 0)
			return unknown_field(d, key);
		switch (f) {
		case 0:
			ok = jstr(d, val, "RegisterRequest", "Datacenter",
			    "string", &r->dc, &r->dc_len);
			break;
		case 1:
			ok = jstr(d, val, "RegisterRequest", "ID",
			    "types.NodeID", &r->id, &r->id_len);
			break;
		case 2:
			ok = jstr(d, val, "RegisterRequest", "Node", "string",
			    &r->node, &r->node_len);
			break;
		case 3:
			ok = jstr(d, val, "RegisterRequest", "Address",
			    "string", &r->address, &r->address_len);
			break;
		case 4:
			ok = jmap(d, val, "RegisterRequest", "TaggedAddresses",
			    &r->tagged);
			break;
		case 5:
			ok = jmap(d, val, "RegisterRequest", "NodeMeta",
			    &r->meta);
			break;
		case 6:
			if (!json_is_null(val) && !json_is_object(val))
				ok = type_error(d, val, "RegisterRequest",
				    "Service", "structs.NodeService");
			r->service = json_is_object(val);
			break;
		case 7:
			if (!json_is_null(val) && !json_is_object(val))
				ok = type_error(d, val, "RegisterRequest",
				    "Check", "structs.HealthCheck");
			single = json_is_object(val) ? val : NULL;
			break;
		case 8:
			if (json_is_null(val))
				break;
			if (!json_is_array(val)) {
				ok = type_error(d, val, "RegisterRequest",
				    "Checks", "structs.HealthChecks");
				break;
			}
			if (json_array_size(val) > CAT_CHECKS_MAX) {
				ok = jfail(d, "Checks: more than %u checks",
				    CAT_CHECKS_MAX);
				break;
			}
			json_array_foreach(val, i, it) {
				if (json_is_null(it))
					continue;
				if (!json_is_object(it)) {
					ok = type_error(d, it,
					    "RegisterRequest", "Checks",
					    "structs.HealthCheck");
					break;
				}
				if (!(ok = jcheck(d, it, "Checks",
				    dreg_add_check(r))))
					break;
			}
			break;
		case 9:
			ok = jbool(d, val, "RegisterRequest", "SkipNodeUpdate",
			    &r->skip);
			break;
		case 10:
			ok = jstr(d, val, "RegisterRequest", "PeerName",
			    "string", &r->peer, &r->peer_len);
			break;
		case 11:
			ok = jstr(d, val, "RegisterRequest", "Token", "string",
			    &tok, &tl);
			break;
		default:
			ok = jint(d, val, "RegisterRequest", names[f], "uint64",
			    0, INT64_MAX, &x);
			break;
		}
		if (!ok)
			return false;
	}
	/* Catalog.Register moves the single Check after Checks. */
	if (single != NULL && !jcheck(d, single, "Check", dreg_add_check(r)))
		return false;
	return true;
}

/* Reads the body as lib.DecodeJSON does: 0, or -1 after answering 400
 * "Request decode failed: ...". */
static int
decode_body(struct hreq *hr, json_t **root)
{
	char err[512];
	void *body;
	size_t blen, end;

	hreq_body(hr, &body, &blen);
	if (go_json_scan(body, blen, &end, err, sizeof(err)) != 0 ||
	    (*root = go_json_load(body, end, err, sizeof(err))) == NULL) {
		hreq_error(hr, 400, "Request decode failed: %s", err);
		return -1;
	}
	return 0;
}

/* ---- writes ---- */

static void
on_write_reply(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_kv_write_reply rep;
	struct lerr e;

	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		else
			hreq_ipc_error(hr, me.code, me.text, me.text_len);
		return;
	}
	if (msg_kv_write_reply_dec(m, &rep, &e) != 0) {
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	if (rep.code == -LE_TOOBIG) {
		hreq_error(hr, 413, "%.*s", (int)rep.text_len, rep.text);
		return;
	}
	if (rep.code != 0) {
		/* Consul's RPC errors (validation included) are 500s. */
		hreq_error(hr, 500, "%.*s", (int)rep.text_len, rep.text);
		return;
	}
	hreq_finish(hr, 200, "application/json", "true", 4);
}

static bool
local_dc(struct hreq *hr, const char *dc, size_t len)
{
	const char *ours = hr->h->cfg.datacenter;

	return len == 0 || (len == strlen(ours) && memcmp(dc, ours, len) == 0);
}

static void
fill_check_defaults(struct dreg *r, struct dcheck *dc)
{
	struct msg_cat_check *c = &dc->c;

	if (c->node_len == 0) {
		c->node = r->node;
		c->node_len = r->node_len;
	}
	if (c->check_id_len == 0 && c->name_len > 0) {
		c->check_id = c->name;
		c->check_id_len = c->name_len;
	}
	if (c->type_len == 0) {
		c->type = def_type(&dc->def);
		c->type_len = strlen(c->type);
	}
	def_render(&dc->def, &dc->defjson);
	c->definition = dc->defjson.s;
	c->definition_len = dc->defjson.len;
	c->service_tags.present = dc->tags.present;
	c->service_tags.n = dc->tags.n;
	c->service_tags.s = dc->tags.s;
	c->service_tags.lens = dc->tags.l;
}

/* Within what proto's decoders accept, or kvd would take the request for
 * a sibling's garbage: 0, or -1 with the offending field in why. */
static int
check_len(char *why, size_t whylen, const char *what, size_t len,
    size_t max)
{
	if (len <= max)
		return 0;
	snprintf(why, whylen, "%s too long: %zu bytes, at most %zu", what, len,
	    max);
	return -1;
}

static int
map_len(char *why, size_t whylen, const char *what,
    const struct msg_cat_strmap *m)
{
	for (uint32_t i = 0; i < m->n; i++) {
		const char *k, *v;
		size_t kl, vl;

		msg_cat_strmap_at(m, i, &k, &kl, &v, &vl);
		if (check_len(why, whylen, what, kl, CAT_TEXT_MAX) != 0 ||
		    check_len(why, whylen, what, vl, CAT_TEXT_MAX) != 0)
			return -1;
	}
	return 0;
}

static int
register_len(const struct msg_cat_register *reg, char *why, size_t whylen)
{
	const struct msg_cat_node *n = &reg->node;

	if (check_len(why, whylen, "ID", n->id_len, CAT_ID_MAX) != 0 ||
	    check_len(why, whylen, "Node", n->node_len, CAT_NAME_MAX) != 0 ||
	    check_len(why, whylen, "Address", n->address_len,
	    CAT_ADDR_MAX) != 0 ||
	    map_len(why, whylen, "TaggedAddresses", &n->tagged) != 0 ||
	    map_len(why, whylen, "NodeMeta", &n->meta) != 0)
		return -1;
	for (uint32_t i = 0; i < reg->n_checks; i++) {
		const struct msg_cat_check *c = &reg->checks[i];
		struct {
			const char *what;
			size_t len, max;
		} f[] = {
			{ "Check Node", c->node_len, CAT_NAME_MAX },
			{ "CheckID", c->check_id_len, CAT_NAME_MAX },
			{ "Check Name", c->name_len, CAT_TEXT_MAX },
			{ "Status", c->status_len, CAT_SHORT_MAX },
			{ "Notes", c->notes_len, CAT_TEXT_MAX },
			{ "Output", c->output_len, CAT_TEXT_MAX },
			{ "ServiceID", c->service_id_len, CAT_NAME_MAX },
			{ "ServiceName", c->service_name_len, CAT_NAME_MAX },
			{ "Type", c->type_len, CAT_SHORT_MAX },
			{ "Interval", c->interval_len, CAT_SHORT_MAX },
			{ "Timeout", c->timeout_len, CAT_SHORT_MAX },
			{ "Definition", c->definition_len, CAT_TEXT_MAX },
		};

		for (size_t j = 0; j < sizeof(f) / sizeof(f[0]); j++)
			if (check_len(why, whylen, f[j].what, f[j].len,
			    f[j].max) != 0)
				return -1;
		for (uint32_t j = 0; j < c->service_tags.n; j++) {
			const char *t;
			size_t tl;

			msg_cat_strlist_at(&c->service_tags, j, &t, &tl);
			if (check_len(why, whylen, "ServiceTags", tl,
			    CAT_TEXT_MAX) != 0)
				return -1;
		}
	}
	return 0;
}

static void
cat_register(struct hreq *hr)
{
	struct dreg r = { 0 };
	struct jdec d = { "", false };
	struct msg_cat_register reg = { 0 };
	struct msg_cat_check *checks = NULL;
	struct ipc_call *call;
	char why[160];

	if (decode_body(hr, &r.root) != 0)
		return;
	if (!jregister(&d, r.root, &r)) {
		hreq_error(hr, 400, "Request decode failed: %s", d.err);
		goto out;
	}
	if (r.service) {
		hreq_error(hr, 400, "services are not supported yet: "
		    "register a node and its checks only");
		goto out;
	}
	if (!local_dc(hr, r.dc, r.dc_len)) {
		hreq_error(hr, 500, "No path to datacenter");
		goto out;
	}
	if (r.peer_len > 0) {
		hreq_error(hr, 500, "peering is not supported");
		goto out;
	}
	reg.node.id = r.id ? r.id : "";
	reg.node.id_len = r.id_len;
	reg.node.node = r.node ? r.node : "";
	reg.node.node_len = r.node_len;
	reg.node.address = r.address ? r.address : "";
	reg.node.address_len = r.address_len;
	reg.node.dc = hr->h->cfg.datacenter;
	reg.node.dc_len = strlen(hr->h->cfg.datacenter);
	smap_out(&r.tagged, &reg.node.tagged);
	smap_out(&r.meta, &reg.node.meta);
	reg.skip_node_update = r.skip;
	checks = xcalloc(r.n_checks + 1, sizeof(*checks));
	for (uint32_t i = 0; i < r.n_checks; i++) {
		fill_check_defaults(&r, &r.checks[i]);
		checks[i] = r.checks[i].c;
	}
	reg.n_checks = r.n_checks;
	reg.checks = checks;
	if (register_len(&reg, why, sizeof(why)) != 0) {
		hreq_error(hr, 400, "%s", why);
		goto out;
	}
	call = ipc_call_new(hr->h->kvd, MSG_CAT_REGISTER);
	msg_cat_register_enc(ipc_call_writer(call), &reg);
	ipc_call_send_loop(call, CAT_RPC_TIMEOUT_MS, hr->h->loop,
	    on_write_reply, hr);
out:
	free(checks);
	dreg_free(&r);
}

static void
cat_deregister(struct hreq *hr)
{
	static const char *const names[] = {
		"Datacenter", "Node", "ServiceID", "CheckID", "PeerName",
		"Token", "Address",
	};
	struct msg_cat_deregister dr = { "", 0, "", 0, "", 0 };
	struct jdec d = { "", false };
	const char *key, *dc = NULL, *peer = NULL, *ign;
	size_t dc_len = 0, peer_len = 0, il;
	json_t *root, *val;
	struct ipc_call *call;

	if (decode_body(hr, &root) != 0)
		return;
	if (!json_is_null(root) && !json_is_object(root)) {
		jfail(&d, "json: cannot unmarshal %s into Go value of type "
		    "structs.DeregisterRequest", go_json_kind(root));
	} else if (json_is_object(root)) {
		json_object_foreach(root, key, val) {
			int f = field_of(key, names, 7);
			bool ok;

			switch (f) {
			case 0:
				ok = jstr(&d, val, "DeregisterRequest",
				    names[f], "string", &dc, &dc_len);
				break;
			case 1:
				ok = jstr(&d, val, "DeregisterRequest",
				    names[f], "string", &dr.node, &dr.node_len);
				break;
			case 2:
				ok = jstr(&d, val, "DeregisterRequest",
				    names[f], "string", &dr.service_id,
				    &dr.service_id_len);
				break;
			case 3:
				ok = jstr(&d, val, "DeregisterRequest",
				    names[f], "types.CheckID", &dr.check_id,
				    &dr.check_id_len);
				break;
			case 4:
				ok = jstr(&d, val, "DeregisterRequest",
				    names[f], "string", &peer, &peer_len);
				break;
			case 5:
			case 6:
				ok = jstr(&d, val, "DeregisterRequest",
				    names[f], "string", &ign, &il);
				break;
			default:
				ok = unknown_field(&d, key);
				break;
			}
			if (!ok)
				break;
		}
	}
	if (d.failed) {
		hreq_error(hr, 400, "Request decode failed: %s", d.err);
	} else if (!local_dc(hr, dc, dc_len)) {
		hreq_error(hr, 500, "No path to datacenter");
	} else if (peer_len > 0) {
		hreq_error(hr, 500, "peering is not supported");
	} else if (dr.node_len > CAT_NAME_MAX ||
	    dr.service_id_len > CAT_NAME_MAX ||
	    dr.check_id_len > CAT_NAME_MAX) {
		hreq_error(hr, 400, "Node, service or check ID too long");
	} else {
		call = ipc_call_new(hr->h->kvd, MSG_CAT_DEREGISTER);
		msg_cat_deregister_enc(ipc_call_writer(call), &dr);
		ipc_call_send_loop(call, CAT_RPC_TIMEOUT_MS, hr->h->loop,
		    on_write_reply, hr);
	}
	json_decref(root);
}

/* ---- reads ---- */

static void
render_map(struct sbuf *b, const struct msg_cat_strmap *m)
{
	if (!m->present) {
		sbuf_adds(b, "null");
		return;
	}
	/* Stored in key order, which is how Go writes a map. */
	sbuf_addc(b, '{');
	for (uint32_t i = 0; i < m->n; i++) {
		const char *k, *v;
		size_t kl, vl;

		msg_cat_strmap_at(m, i, &k, &kl, &v, &vl);
		if (i > 0)
			sbuf_addc(b, ',');
		sbuf_json_str(b, k, kl);
		sbuf_addc(b, ':');
		sbuf_json_str(b, v, vl);
	}
	sbuf_addc(b, '}');
}

/* structs.Node as Consul writes it (Partition, PeerName and Locality are
 * omitted when empty, which they always are here). */
static void
render_node(struct sbuf *b, const struct msg_cat_node *n)
{
	sbuf_adds(b, "{\"ID\":");
	sbuf_json_str(b, n->id, n->id_len);
	sbuf_adds(b, ",\"Node\":");
	sbuf_json_str(b, n->node, n->node_len);
	sbuf_adds(b, ",\"Address\":");
	sbuf_json_str(b, n->address, n->address_len);
	sbuf_adds(b, ",\"Datacenter\":");
	sbuf_json_str(b, n->dc, n->dc_len);
	sbuf_adds(b, ",\"TaggedAddresses\":");
	render_map(b, &n->tagged);
	sbuf_adds(b, ",\"Meta\":");
	render_map(b, &n->meta);
	sbuf_printf(b, ",\"CreateIndex\":%llu,\"ModifyIndex\":%llu}",
	    (unsigned long long)n->create_index,
	    (unsigned long long)n->modify_index);
}

/* structs.HealthCheck; the health endpoint turns nil ServiceTags into
 * []. */
static void
render_check(struct sbuf *b, const struct msg_cat_check *c)
{
	size_t end;
	char err[8];

#define STR(name, f) do { \
	sbuf_adds(b, name); \
	sbuf_json_str(b, c->f, c->f##_len); \
} while (0)
	STR("{\"Node\":", node);
	STR(",\"CheckID\":", check_id);
	STR(",\"Name\":", name);
	STR(",\"Status\":", status);
	STR(",\"Notes\":", notes);
	STR(",\"Output\":", output);
	STR(",\"ServiceID\":", service_id);
	STR(",\"ServiceName\":", service_name);
	sbuf_adds(b, ",\"ServiceTags\":[");
	for (uint32_t i = 0; i < c->service_tags.n; i++) {
		const char *s;
		size_t l;

		msg_cat_strlist_at(&c->service_tags, i, &s, &l);
		if (i > 0)
			sbuf_addc(b, ',');
		sbuf_json_str(b, s, l);
	}
	sbuf_addc(b, ']');
	STR(",\"Type\":", type);
	STR(",\"Interval\":", interval);
	STR(",\"Timeout\":", timeout);
#undef STR
	sbuf_printf(b, ",\"ExposedPort\":%lld,\"Definition\":",
	    (long long)c->exposed_port);
	/* httpd wrote it; still, never emit what is not one JSON object. */
	if (c->definition_len > 0 && c->definition[0] == '{' &&
	    go_json_scan(c->definition, c->definition_len, &end, err,
	    sizeof(err)) == 0 && end == c->definition_len)
		sbuf_add(b, c->definition, c->definition_len);
	else
		sbuf_adds(b, "{}");
	sbuf_printf(b, ",\"CreateIndex\":%llu,\"ModifyIndex\":%llu}",
	    (unsigned long long)c->create_index,
	    (unsigned long long)c->modify_index);
}

static void
on_read_reply(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_kv_read_reply rep;
	struct lerr e;
	struct sbuf b;
	int what = hr->kv_mode;	/* the catalog read's enum cat_read_what */

	if (hr->blk.index > 0)
		atomic_fetch_sub(&hr->h->blocking, 1);
	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		else
			hreq_ipc_error(hr, me.code, me.text, me.text_len);
		return;
	}
	if (msg_kv_read_reply_dec(m, &rep, &e) != 0) {
		log_warnx("catalog.read reply: %s", e.msg);
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	if (rep.code != 0) {
		hreq_ipc_error(hr, rep.code, rep.text, rep.text_len);
		return;
	}
	hreq_read_headers(hr, rep.index, rep.known_leader,
	    rep.last_contact_ms);
	sbuf_init(&b);
	if (what == CATR_NODE) {
		struct msg_cat_node n;

		/* An unknown node is a 200 with null, as in Consul. */
		if (rep.n_items == 0) {
			sbuf_adds(&b, "null");
		} else if (msg_cat_node_dec(&rep.items[0], &n) != 0) {
			goto bad;
		} else {
			sbuf_adds(&b, "{\"Node\":");
			render_node(&b, &n);
			sbuf_adds(&b, ",\"Services\":{}}");
		}
	} else {
		sbuf_addc(&b, '[');
		for (uint32_t i = 0; i < rep.n_items; i++) {
			if (i > 0)
				sbuf_addc(&b, ',');
			if (what == CATR_NODES) {
				struct msg_cat_node n;

				if (msg_cat_node_dec(&rep.items[i], &n) != 0)
					goto bad;
				render_node(&b, &n);
			} else {
				struct msg_cat_check c;

				if (msg_cat_check_dec(&rep.items[i], &c) != 0)
					goto bad;
				render_check(&b, &c);
			}
		}
		sbuf_addc(&b, ']');
	}
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
	return;
bad:
	sbuf_free(&b);
	hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
}

/* parseMetaFilter: every ?node-meta=key:value, a later key winning. */
static void
meta_filter(struct hreq *hr, struct msg_cat_read *q, const char **k,
    size_t *kl, const char **v, size_t *vl)
{
	uint32_t n = 0;

	for (size_t i = 0; i < hr->q.n && n < 32; i++) {
		const char *p = hr->q.p[i].value, *colon;
		uint32_t j;

		if (strcmp(hr->q.p[i].name, "node-meta") != 0)
			continue;
		colon = strchr(p, ':');
		k[n] = p;
		kl[n] = colon != NULL ? (size_t)(colon - p) : strlen(p);
		v[n] = colon != NULL ? colon + 1 : "";
		vl[n] = strlen(v[n]);
		for (j = 0; j < n; j++)
			if (kl[j] == kl[n] && memcmp(k[j], k[n], kl[n]) == 0)
				break;
		if (j < n) {
			v[j] = v[n];
			vl[j] = vl[n];
		} else {
			n++;
		}
	}
	q->filter.present = n > 0;
	q->filter.n = n;
	q->filter.keys = k;
	q->filter.klens = kl;
	q->filter.vals = v;
	q->filter.vlens = vl;
}

static void
cat_read(struct hreq *hr, uint32_t what, const char *node, size_t nlen)
{
	struct httpd *h = hr->h;
	struct msg_cat_read q = { 0 };
	const char *fk[32], *fv[32], *err, *dc;
	size_t fkl[32], fvl[32];
	uint64_t timeout = CAT_RPC_TIMEOUT_MS, r;
	struct ipc_call *call;

	dc = hquery_get(&hr->q, "dc");
	if (dc != NULL && !local_dc(hr, dc, strlen(dc))) {
		hreq_error(hr, 500, "No path to datacenter");
		return;
	}
	if (hreq_consistency(hr) != 0)
		return;
	if (parse_blocking(&hr->q, h->cfg.default_query_time_ms,
	    h->cfg.max_query_time_ms, &hr->blk, &err) != 0) {
		hreq_error(hr, 400, "%s", err);
		return;
	}
	if (what != CATR_NODES && nlen == 0) {
		hreq_error(hr, 400, "Missing node name");
		return;
	}
	if (nlen > CAT_NAME_MAX) {
		hreq_error(hr, 400, "Node name too long");
		return;
	}
	hr->kv_mode = (int)what;
	q.what = what;
	q.node = node;
	q.node_len = nlen;
	if (what == CATR_NODES) {
		meta_filter(hr, &q, fk, fkl, fv, fvl);
		for (uint32_t i = 0; i < q.filter.n; i++) {
			if (fkl[i] > CAT_TEXT_MAX || fvl[i] > CAT_TEXT_MAX) {
				hreq_error(hr, 400, "node-meta filter too long");
				return;
			}
		}
	}
	q.consistency = hr->consistency;
	if (hr->blk.index > 0) {
		random_bytes(&r, sizeof(r));
		q.min_index = hr->blk.index;
		q.wait_ms = blocking_jitter(hr->blk.wait_ms,
		    h->cfg.max_query_time_ms, r);
		timeout = q.wait_ms + CAT_BLOCK_SLACK_MS;
		atomic_fetch_add(&h->blocking, 1);
	}
	call = ipc_call_new(h->kvd, MSG_CAT_READ);
	msg_cat_read_enc(ipc_call_writer(call), &q);
	hreq_cancellable(hr, h->kvd, call);
	ipc_call_send_loop(call, timeout, hr->h->loop, on_read_reply, hr);
}

/* Only this datacenter until WAN gossip: Consul answers its own name
 * when it knows no other, with or without a leader. */
static void
cat_datacenters(struct hreq *hr)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_addc(&b, '[');
	sbuf_json_str(&b, hr->h->cfg.datacenter,
	    strlen(hr->h->cfg.datacenter));
	sbuf_addc(&b, ']');
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
}

static bool
method_is(struct hreq *hr, const char *m, const char *allow)
{
	bool ok = strcmp(hr->method, m) == 0 ||
	    (strcmp(m, "GET") == 0 && strcmp(hr->method, "HEAD") == 0);

	if (!ok) {
		hreq_set_header(hr, "Allow", allow);
		hreq_error(hr, 405, "method %s not allowed", hr->method);
	}
	return ok;
}

void
http_catalog(struct hreq *hr)
{
	const char *p = hr->path;

	if (strcmp(p, "/v1/catalog/register") == 0) {
		if (method_is(hr, "PUT", "PUT"))
			cat_register(hr);
	} else if (strcmp(p, "/v1/catalog/deregister") == 0) {
		if (method_is(hr, "PUT", "PUT"))
			cat_deregister(hr);
	} else if (strcmp(p, "/v1/catalog/nodes") == 0) {
		if (method_is(hr, "GET", "GET"))
			cat_read(hr, CATR_NODES, "", 0);
	} else if (strncmp(p, "/v1/catalog/node/", 17) == 0) {
		if (method_is(hr, "GET", "GET"))
			cat_read(hr, CATR_NODE, p + 17, hr->path_len - 17);
	} else if (strncmp(p, "/v1/health/node/", 16) == 0) {
		if (method_is(hr, "GET", "GET"))
			cat_read(hr, CATR_NODE_CHECKS, p + 16,
			    hr->path_len - 16);
	} else if (strcmp(p, "/v1/catalog/datacenters") == 0) {
		if (method_is(hr, "GET", "GET"))
			cat_datacenters(hr);
	} else {
		hreq_error(hr, 404, "404 page not found\n");
	}
}
