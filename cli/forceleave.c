/* forceleave.c: `lictor force-leave [-prune] [-wan] NODE`, after Consul's
 * command/forceleave: PUT /v1/agent/force-leave/<node>[?prune=1][&wan=1]
 * moves a failed member to "left" (-prune: out of the list at once).
 * Silent on success, as Consul is. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char forceleave_help[] =
"Usage: lictor force-leave [options] name\n"
"\n"
"  Forces a member of a lictor cluster to enter the \"left\" state. Note\n"
"  that if the member is still actually alive, it will eventually rejoin\n"
"  the cluster. This command is most useful for cleaning out \"failed\" nodes\n"
"  that are never coming back. If you do not force leave a failed node,\n"
"  lictor will attempt to reconnect to those failed nodes for some period of\n"
"  time before eventually reaping them.\n"
"\n"
"  -prune    Remove agent completely from list of members\n"
"  -wan      Exclusively leave the agent from the WAN serf pool.\n";

int
cli_forceleave_main(int argc, char **argv)
{
	struct cli_http http;
	struct cli_client *client = NULL;
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct flag_def *defs;
	struct sbuf err, path;
	bool prune = false, wan = false;
	int rest = 0, code = 1;
	struct flag_def cmd[] = {
		{ "prune", FLAG_BOOL, &prune,
		  "Remove agent completely from list of members", NULL },
		{ "wan", FLAG_BOOL, &wan,
		  "Exclusively leave the agent from the WAN serf pool.", NULL },
		{ NULL, 0, NULL, NULL, NULL },
	};

	memset(&http, 0, sizeof(http));
	sbuf_init(&err);
	sbuf_init(&path);
	defs = cli_flags_build_partition(cmd, &http);
	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, forceleave_help, defs);
		code = 0;
		goto done;
	}
	if (cli_parse_flags(defs, argc, argv, &rest) != 0)
		goto done;
	if (argc - rest != 1) {
		cli_error("A single node name must be specified to force leave.");
		cli_error("%s", "");
		cli_print_help(stderr, forceleave_help, defs);
		goto done;
	}
	if (cli_client_new(&http, &client, &err) != 0) {
		cli_error("Error connecting to Consul agent: %s", err.s);
		goto done;
	}
	if (prune)
		cli_params_set(&q, "prune", "1");
	if (wan)
		cli_params_set(&q, "wan", "1");
	sbuf_adds(&path, "/v1/agent/force-leave/");
	sbuf_adds(&path, argv[rest]);
	if (cli_request_ok(client, "PUT", path.s, &q, NULL, 0, NULL, &r,
	    &err) != 0) {
		cli_error("Error force leaving: %s", err.s);
		goto done;
	}
	code = 0;
done:
	fflush(stdout);
	cli_resp_free(&r);
	cli_params_free(&q);
	sbuf_free(&path);
	sbuf_free(&err);
	cli_client_free(client);
	cli_http_free(&http);
	free(defs);
	return code;
}
