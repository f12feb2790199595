/* event.c: `lictor event -name NAME [-node RE] [-service RE] [-tag RE]
 * [PAYLOAD]`, after Consul's command/event: the filters are checked
 * first (regexps compiled as cli_regcomp does), the agent is asked for
 * itself (GET /v1/agent/self, as Consul's NodeName() does), then PUT
 * /v1/event/fire/<name>?node=&service=&tag= with the payload as body,
 * and "Event ID: <id>" from the answer. The checks and the answer's
 * decoding are pure, tested in tests/unit/cli_gossip_test.c. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char event_help[] =
"Usage: lictor event [options] [payload]\n"
"\n"
"  Dispatches a custom user event across a datacenter. An event must provide\n"
"  a name, but a payload is optional. Events support filtering using\n"
"  regular expressions on node name, service, and tag definitions.\n";

/* Not static for tests/unit/cli_gossip_test.c, which repeats these
 * prototypes. */
int event_check(const char *name, const char *node, const char *service,
    const char *tag, int nargs, struct sbuf *err);
int event_id_decode(const char *body, size_t len, struct sbuf *id,
    struct sbuf *err);

static bool
given(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int
check_re(const char *what, const char *expr, struct sbuf *err)
{
	struct sbuf e;
	regex_t re;

	if (!given(expr))
		return 0;
	sbuf_init(&e);
	if (cli_regcomp(&re, expr, &e) != 0) {
		sbuf_printf(err, "Failed to compile %s filter regexp: %s", what,
		    e.s);
		sbuf_free(&e);
		return -1;
	}
	regfree(&re);
	sbuf_free(&e);
	return 0;
}

/*
 * Consul's checks, in its order. Returns 0 when the event can be sent;
 * 1 with the message in err; 2 with the message in err when Consul
 * prints an empty line and the help after it.
 */
int
event_check(const char *name, const char *node, const char *service,
    const char *tag, int nargs, struct sbuf *err)
{
	if (!given(name)) {
		sbuf_adds(err, "Event name must be specified");
		return 2;
	}
	if (check_re("node", node, err) != 0 ||
	    check_re("service", service, err) != 0 ||
	    check_re("tag", tag, err) != 0)
		return 1;
	if (given(tag) && !given(service)) {
		sbuf_adds(err, "Cannot provide tag filter without service "
		    "filter.");
		return 1;
	}
	if (nargs > 1) {
		sbuf_adds(err, "Too many command line arguments.");
		return 2;
	}
	return 0;
}

/* The ID of the api.UserEvent the agent answers with ("" when absent,
 * as Go leaves it). */
int
event_id_decode(const char *body, size_t len, struct sbuf *id,
    struct sbuf *err)
{
	const char *key;
	json_t *j, *v;
	int rv = -1;

	if ((j = cli_json_load(body, len, err)) == NULL)
		return -1;
	if (json_is_null(j)) {
		rv = 0;
		goto out;
	}
	if (!json_is_object(j)) {
		sbuf_adds(err, "json: cannot unmarshal ");
		cli_json_what(j, false, err);
		sbuf_adds(err, " into Go value of type api.UserEvent");
		goto out;
	}
	json_object_foreach(j, key, v) {
		if (strcasecmp(key, "ID") != 0 || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			sbuf_adds(err, "json: cannot unmarshal ");
			cli_json_what(v, false, err);
			sbuf_adds(err, " into Go struct field UserEvent.ID of "
			    "type string");
			goto out;
		}
		sbuf_reset(id);
		sbuf_add(id, json_string_value(v), json_string_length(v));
	}
	rv = 0;
out:
	json_decref(j);
	return rv;
}

/* Consul's Agent().NodeName(): the agent must answer for itself. */
static int
agent_self(struct cli_client *c, struct sbuf *err)
{
	struct cli_resp r = { 0 };
	json_t *j = NULL;
	int rv = -1;

	if (cli_request_ok(c, "GET", "/v1/agent/self", NULL, NULL, 0, NULL,
	    &r, err) != 0)
		goto out;
	if ((j = cli_json_load(r.body, r.len, err)) == NULL)
		goto out;
	if (!json_is_object(j) && !json_is_null(j)) {
		sbuf_adds(err, "json: cannot unmarshal ");
		cli_json_what(j, false, err);
		sbuf_adds(err, " into Go value of type "
		    "map[string]map[string]interface {}");
		goto out;
	}
	rv = 0;
out:
	json_decref(j);
	cli_resp_free(&r);
	return rv;
}

int
cli_event_main(int argc, char **argv)
{
	struct cli_http http;
	struct cli_client *client = NULL;
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct flag_def *defs;
	struct sbuf err, path, id;
	char *name = NULL, *node = NULL, *service = NULL, *tag = NULL;
	const char *payload;
	int rest = 0, code = 1, rv;
	struct flag_def cmd[] = {
		{ "name", FLAG_STRING, &name, "Name of the event.", NULL },
		{ "node", FLAG_STRING, &node,
		  "Regular expression to filter on node names.", NULL },
		{ "service", FLAG_STRING, &service,
		  "Regular expression to filter on service instances.", NULL },
		{ "tag", FLAG_STRING, &tag,
		  "Regular expression to filter on service tags. Must be used "
		  "with -service.", NULL },
		{ NULL, 0, NULL, NULL, NULL },
	};

	memset(&http, 0, sizeof(http));
	sbuf_init(&err);
	sbuf_init(&path);
	sbuf_init(&id);
	defs = cli_flags_build(cmd, &http, CLI_FL_CLIENT);
	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, event_help, defs);
		code = 0;
		goto done;
	}
	if (cli_parse_flags(defs, argc, argv, &rest) != 0)
		goto done;
	if ((rv = event_check(name, node, service, tag, argc - rest,
	    &err)) != 0) {
		cli_error("%s", err.s);
		if (rv == 2) {
			cli_error("%s", "");
			cli_print_help(stderr, event_help, defs);
		}
		goto done;
	}
	if (cli_client_new(&http, &client, &err) != 0) {
		cli_error("Error connecting to Consul agent: %s", err.s);
		goto done;
	}
	if (agent_self(client, &err) != 0) {
		cli_error("Error querying Consul agent: %s", err.s);
		goto done;
	}
	if (given(node))
		cli_params_set(&q, "node", node);
	if (given(service))
		cli_params_set(&q, "service", service);
	if (given(tag))
		cli_params_set(&q, "tag", tag);
	sbuf_adds(&path, "/v1/event/fire/");
	sbuf_adds(&path, name);
	/* No argument: no body; an empty one is an empty body. */
	payload = argc - rest == 1 ? argv[rest] : NULL;
	if (cli_request_ok(client, "PUT", path.s, &q, payload,
	    payload != NULL ? strlen(payload) : 0, "application/octet-stream",
	    &r, &err) != 0 || event_id_decode(r.body, r.len, &id, &err) != 0) {
		cli_error("Error firing event: %s", err.s);
		goto done;
	}
	cli_info("Event ID: %s", id.s != NULL ? id.s : "");
	code = 0;
done:
	fflush(stdout);
	cli_resp_free(&r);
	cli_params_free(&q);
	sbuf_free(&id);
	sbuf_free(&path);
	sbuf_free(&err);
	cli_client_free(client);
	cli_http_free(&http);
	free(name);
	free(node);
	free(service);
	free(tag);
	free(defs);
	return code;
}
