/* leave.c: `lictor leave`, after Consul's command/leave: PUT
 * /v1/agent/leave asks the agent to leave the cluster gracefully and
 * shut down. It takes the client HTTP flags only and no arguments. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char leave_help[] =
"Usage: lictor leave [options]\n"
"\n"
"  Causes the agent to gracefully leave the lictor cluster and shutdown.\n";

int
cli_leave_main(int argc, char **argv)
{
	struct cli_http http;
	struct cli_client *client = NULL;
	struct cli_resp r = { 0 };
	struct flag_def *defs;
	struct sbuf err;
	int rest = 0, code = 1;

	memset(&http, 0, sizeof(http));
	sbuf_init(&err);
	defs = cli_flags_build(NULL, &http, CLI_FL_CLIENT);
	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, leave_help, defs);
		code = 0;
		goto done;
	}
	/* Go's FlagSet has printed why; Consul adds nothing. */
	if (cli_parse_flags(defs, argc, argv, &rest) != 0)
		goto done;
	if (rest < argc) {
		/* Go's %v of a []string, then the help on stdout. */
		sbuf_addc(&err, '[');
		for (int i = rest; i < argc; i++) {
			if (i > rest)
				sbuf_addc(&err, ' ');
			sbuf_adds(&err, argv[i]);
		}
		sbuf_addc(&err, ']');
		cli_error("Error found unexpected args: %s", err.s);
		cli_print_help(stdout, leave_help, defs);
		goto done;
	}
	if (cli_client_new(&http, &client, &err) != 0) {
		cli_error("Error connecting to Consul agent: %s", err.s);
		goto done;
	}
	if (cli_do(client, "PUT", "/v1/agent/leave", strlen("/v1/agent/leave"),
	    NULL, NULL, 0, NULL, &r, &err) != 0) {
		cli_error("Error leaving: %s", err.s);
		goto done;
	}
	if (r.status != 200) {
		cli_status_error(&r, &err);
		cli_error("Error leaving: %s", err.s);
		goto done;
	}
	cli_info("Graceful leave complete");
	code = 0;
done:
	fflush(stdout);
	cli_resp_free(&r);
	sbuf_free(&err);
	cli_client_free(client);
	cli_http_free(&http);
	free(defs);
	return code;
}
