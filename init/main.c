/* lictor: one program for the agent (init, the supervisor of the
 * daemons) and the operator's commands, as Consul's single binary. */
#include "init.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void
usage(FILE *f)
{
	fprintf(f, "Usage: lictor [--version] [--help] <command> [<args>]\n\n"
	    "Available commands are:\n"
	    "    agent         Runs a lictor agent\n"
	    "    ctl           Controls a running agent's daemons\n"
	    "    event         Fire a new event\n"
	    "    force-leave   Forces a member of the cluster to enter the "
	    "\"left\" state\n"
	    "    join          Tell lictor agent to join cluster\n"
	    "    keygen        Generates a new encryption key\n"
	    "    kv            Interact with the key-value store\n"
	    "    leave         Gracefully leaves the lictor cluster and shuts "
	    "down\n"
	    "    members       Lists the members of a lictor cluster\n"
	    "    operator      Provides cluster-level tools for lictor "
	    "operators\n"
	    "    version       Prints the lictor version\n");
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	cmd = argv[1];
	if (strcmp(cmd, "agent") == 0)
		return agent_main(argc - 2, argv + 2, argv[0]);
	if (strcmp(cmd, "ctl") == 0)
		return ctl_main(argc - 2, argv + 2);
	if (strcmp(cmd, "event") == 0)
		return cli_event_main(argc - 2, argv + 2);
	if (strcmp(cmd, "force-leave") == 0)
		return cli_forceleave_main(argc - 2, argv + 2);
	if (strcmp(cmd, "join") == 0)
		return cli_join_main(argc - 2, argv + 2);
	if (strcmp(cmd, "keygen") == 0)
		return cli_keygen_main(argc - 2, argv + 2);
	if (strcmp(cmd, "kv") == 0)
		return cli_kv_main(argc - 2, argv + 2);
	if (strcmp(cmd, "leave") == 0)
		return cli_leave_main(argc - 2, argv + 2);
	if (strcmp(cmd, "members") == 0)
		return cli_members_main(argc - 2, argv + 2);
	if (strcmp(cmd, "operator") == 0)
		return cli_operator_main(argc - 2, argv + 2);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 ||
	    strcmp(cmd, "-version") == 0 || strcmp(cmd, "-v") == 0) {
		printf("lictor v%s\nProtocol 2 spoken by default, "
		    "understands 2 to 3 (Consul-compatible API)\n",
		    LICTOR_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "lictor: unknown command \"%s\"\n\n", cmd);
	usage(stderr);
	return 1;
}
