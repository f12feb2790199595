/* keygen.c: `lictor keygen`, after Consul's command/keygen: 32 random
 * bytes from getrandom(2) in standard base64 on one line, the gossip
 * key that -encrypt takes. No HTTP; arguments after the flags are
 * ignored, as Consul does. */
#include "cli.h"
#include "base64.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define KEYGEN_BYTES 32

static const char keygen_help[] =
"Usage: lictor keygen\n"
"\n"
"  Generates a new 32-byte encryption key that can be used to configure the\n"
"  agent to encrypt traffic. The output of this command is already\n"
"  in the proper format that the agent expects.\n";

int
cli_keygen_main(int argc, char **argv)
{
	uint8_t key[KEYGEN_BYTES];
	char out[b64_encoded_len(KEYGEN_BYTES) + 1];
	const char *why;
	ssize_t got;
	int rest = 0;
	struct flag_def defs[] = { { NULL, 0, NULL, NULL, NULL } };

	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, keygen_help, defs);
		return 0;
	}
	if (cli_parse_flags(defs, argc, argv, &rest) != 0)
		return 1;
	/* One read, as Go's rand.Reader.Read is called once; 32 bytes
	 * never come short from getrandom once it is seeded. */
	do
		got = getrandom(key, sizeof(key), 0);
	while (got == -1 && errno == EINTR);
	if (got == -1) {
		/* Go's words for an errno: lower-case first letter. */
		why = strerror(errno);
		cli_error("Error reading random data: %c%s",
		    tolower((unsigned char)why[0]), why[0] != '\0' ? why + 1 :
		    "");
		return 1;
	}
	if (got != KEYGEN_BYTES) {
		cli_error("Couldn't read enough entropy. Generate more "
		    "entropy!");
		return 1;
	}
	b64_encode(key, sizeof(key), out);
	cli_info("%s", out);
	fflush(stdout);
	return 0;
}
