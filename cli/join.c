/* join.c: `lictor join [-wan] ADDRESS...`, after Consul's command/join:
 * one PUT /v1/agent/join/<address>[?wan=1] per address, an error line
 * for each that fails, success (exit 0) when any one worked. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char join_help[] =
"Usage: lictor join [options] address ...\n"
"\n"
"  Tells a running lictor agent (with \"lictor agent\") to join the cluster\n"
"  by specifying at least one existing member.\n";

int
cli_join_main(int argc, char **argv)
{
	struct cli_http http;
	struct cli_client *client = NULL;
	struct cli_params q = { 0 };
	struct flag_def *defs;
	struct sbuf err, path;
	bool wan = false;
	int rest = 0, code = 1, joins = 0;
	struct flag_def cmd[] = {
		{ "wan", FLAG_BOOL, &wan,
		  "Joins a server to another server in the WAN pool.", NULL },
		{ NULL, 0, NULL, NULL, NULL },
	};

	memset(&http, 0, sizeof(http));
	sbuf_init(&err);
	sbuf_init(&path);
	defs = cli_flags_build_partition(cmd, &http);
	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, join_help, defs);
		code = 0;
		goto done;
	}
	if (cli_parse_flags(defs, argc, argv, &rest) != 0)
		goto done;
	if (rest == argc) {
		cli_error("At least one address to join must be specified.");
		cli_error("%s", "");
		cli_print_help(stderr, join_help, defs);
		goto done;
	}
	if (cli_client_new(&http, &client, &err) != 0) {
		cli_error("Error connecting to Consul agent: %s", err.s);
		goto done;
	}
	if (wan)
		cli_params_set(&q, "wan", "1");
	for (int i = rest; i < argc; i++) {
		struct cli_resp r = { 0 };

		sbuf_reset(&path);
		sbuf_adds(&path, "/v1/agent/join/");
		sbuf_adds(&path, argv[i]);
		sbuf_reset(&err);
		if (cli_request_ok(client, "PUT", path.s, &q, NULL, 0, NULL, &r,
		    &err) != 0)
			cli_error("Error joining address '%s': %s", argv[i],
			    err.s);
		else
			joins++;
		cli_resp_free(&r);
	}
	if (joins == 0) {
		cli_error("Failed to join any nodes.");
		goto done;
	}
	cli_info("Successfully joined cluster by contacting %d nodes.", joins);
	code = 0;
done:
	fflush(stdout);
	cli_params_free(&q);
	sbuf_free(&path);
	sbuf_free(&err);
	cli_client_free(client);
	cli_http_free(&http);
	free(defs);
	return code;
}
