/* kv_put.c: `lictor kv put [options] KEY [DATA]`, after Consul's
 * command/kv/put: a plain write, a check-and-set (-cas -modify-index; an
 * index of 0 means "only if absent", as current Consul has it), or a
 * lock acquire/release with -session. Texts and exit codes are Consul's. */
#include "kv.h"
#include "base64.h"

#include <stdlib.h>
#include <string.h>

static const char put_help[] =
"Usage: lictor kv put [options] KEY [DATA]\n"
"\n"
"  Writes the data to the given path in the key-value store. The data can be of\n"
"  any type.\n"
"\n"
"      $ lictor kv put config/redis/maxconns 5\n"
"\n"
"  The data can also be consumed from a file on disk by prefixing with the \"@\"\n"
"  symbol. For example:\n"
"\n"
"      $ lictor kv put config/program/license @license.lic\n"
"\n"
"  Or it can be read from stdin using the \"-\" symbol:\n"
"\n"
"      $ echo \"abcd1234\" | lictor kv put config/program/license -\n"
"\n"
"  The DATA argument itself is optional. If omitted, this will create an empty\n"
"  key-value pair at the specified path:\n"
"\n"
"      $ lictor kv put webapp/beta/active\n"
"\n"
"  If the -base64 flag is specified, the data will be treated as base 64\n"
"  encoded.\n"
"\n"
"  To perform a Check-And-Set operation, specify the -cas flag with the\n"
"  appropriate -modify-index flag corresponding to the key you want to perform\n"
"  the CAS operation on:\n"
"\n"
"      $ lictor kv put -cas -modify-index=844 config/redis/maxconns 5\n"
"\n"
"  Additional flags and more advanced use cases are detailed below.\n";

enum put_mode { PUT_PLAIN, PUT_CAS, PUT_ACQUIRE, PUT_RELEASE };

/* Error prefixes of Consul's four branches when no answer came back. */
static void
put_failed(enum put_mode m, const char *key, const char *why)
{
	switch (m) {
	case PUT_CAS:
		cli_error("Error! Did not write to %s: %s", key, why);
		break;
	case PUT_RELEASE:
		/* Consul prints the key here, not the error. */
		cli_error("Error! Failed writing data: %s", key);
		break;
	default:
		cli_error("Error! Failed writing data: %s", why);
		break;
	}
}

static int
put_result(enum put_mode m, const char *key, bool ok, uint64_t modify_index)
{
	switch (m) {
	case PUT_CAS:
		if (!ok && modify_index == 0) {
			cli_error("Error! Did not write to %s: CAS performed "
			    "with index=0 and key already exists.", key);
			return 1;
		}
		if (!ok) {
			cli_error("Error! Did not write to %s: CAS failed", key);
			return 1;
		}
		cli_info("Success! Data written to: %s", key);
		return 0;
	case PUT_ACQUIRE:
		if (!ok) {
			cli_error("Error! Did not acquire lock");
			return 1;
		}
		cli_info("Success! Lock acquired on: %s", key);
		return 0;
	case PUT_RELEASE:
		if (!ok) {
			cli_error("Error! Did not release lock");
			return 1;
		}
		cli_info("Success! Lock released on: %s", key);
		return 0;
	default:
		/* A plain Put ignores the body, as Consul's api.KV.Put does. */
		cli_info("Success! Data written to: %s", key);
		return 0;
	}
}

int
kv_put_main(int argc, char **argv)
{
	struct kv_cmd c = { .help = put_help };
	bool cas = false, b64 = false, acquire = false, release = false;
	uint64_t kvflags = 0, modify_index = 0;
	char *session = NULL, *data = NULL, num[24];
	const char *key;
	uint8_t *raw = NULL;
	size_t dlen = 0, rawlen = 0, pos;
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct sbuf err, path;
	enum put_mode mode;
	int code = 1;
	struct flag_def defs[] = {
		{ "cas", FLAG_BOOL, &cas,
		  "Perform a Check-And-Set operation. Specifying this value "
		  "also requires the -modify-index flag to be set. The default "
		  "value is false." },
		{ "flags", FLAG_UINT, &kvflags,
		  "Unsigned integer value to assign to this key-value pair. "
		  "This value is not read by lictor, so clients can use this "
		  "value however makes sense for their use case. The default "
		  "value is 0 (no flags)." },
		{ "base64", FLAG_BOOL, &b64,
		  "Treat the data as base 64 encoded. The default value is "
		  "false." },
		{ "modify-index", FLAG_UINT, &modify_index,
		  "Unsigned integer representing the ModifyIndex of the key. "
		  "This is used in combination with the -cas flag." },
		{ "session", FLAG_STRING, &session,
		  "User-defined identifer for this session as a string. This is "
		  "commonly used with the -acquire and -release operations to "
		  "build robust locking, but it can be set on any key. The "
		  "default value is empty (no session)." },
		{ "acquire", FLAG_BOOL, &acquire,
		  "Obtain a lock on the key. If the key does not exist, this "
		  "operation will create the key and obtain the lock. The "
		  "session must already exist and be specified via the -session "
		  "flag. The default value is false." },
		{ "release", FLAG_BOOL, &release,
		  "Forfeit the lock on the key at the given path. This requires "
		  "the -session flag to be set. The key must be held by the "
		  "session in order to be unlocked. The default value is "
		  "false." },
		{ NULL },
	};

	sbuf_init(&err);
	sbuf_init(&path);
	if (kv_cmd_start(&c, defs, argc, argv, &code) != 0)
		goto out;
	code = 1;
	if (c.argc == 0) {
		cli_error("Error! Missing KEY argument");
		goto out;
	}
	if (c.argc > 2) {
		cli_error("Error! Too many arguments (expected 1 or 2, got %d)",
		    c.argc);
		goto out;
	}
	key = c.argv[0];
	if (cli_load_data(c.argc == 2 ? c.argv[1] : "", &data, &dlen,
	    &err) != 0) {
		cli_error("Error! %s", err.s);
		goto out;
	}
	if (b64) {
		raw = xmalloc(b64_decoded_maxlen(dlen) + 1);
		if (b64_decode_pos(data, dlen, raw, &rawlen, &pos) != 0) {
			/* Consul prints this and writes anyway (the decoded
			 * prefix); writing half a value is worse than
			 * stopping, so lictor stops here with exit 1. */
			cli_error("Error! Cannot base 64 decode data: illegal "
			    "base64 data at input byte %zu", pos);
			goto out;
		}
	} else {
		raw = (uint8_t *)data;
		rawlen = dlen;
		data = NULL;
	}
	if ((release || acquire) && (session == NULL || session[0] == '\0')) {
		cli_error("Error! Missing -session (required with -acquire and "
		    "-release)");
		goto out;
	}
	if (kv_cmd_client(&c) != 0)
		goto out;

	mode = cas ? PUT_CAS : acquire ? PUT_ACQUIRE : release ? PUT_RELEASE :
	    PUT_PLAIN;
	/* Consul's api refuses this before sending anything. */
	if (key[0] == '/') {
		sbuf_printf(&err, "Invalid key. Key must not begin with a '/': "
		    "%s", key);
		put_failed(mode, key, err.s);
		goto out;
	}
	if (kvflags != 0) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)kvflags);
		cli_params_set(&q, "flags", num);
	}
	if (mode == PUT_CAS) {
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)modify_index);
		cli_params_set(&q, "cas", num);
	} else if (mode == PUT_ACQUIRE)
		cli_params_set(&q, "acquire", session);
	else if (mode == PUT_RELEASE)
		cli_params_set(&q, "release", session);
	kv_api_path(&path, key, strlen(key));
	if (cli_do(c.client, "PUT", path.s, path.len, &q, raw != NULL ?
	    (const void *)raw : "", rawlen, "application/octet-stream", &r,
	    &err) != 0) {
		put_failed(mode, key, err.s);
		goto out;
	}
	if (r.status != 200) {
		cli_status_error(&r, &err);
		put_failed(mode, key, err.s);
		goto out;
	}
	code = put_result(mode, key, memmem(r.body, r.len, "true", 4) != NULL,
	    modify_index);
out:
	cli_resp_free(&r);
	cli_params_free(&q);
	sbuf_free(&path);
	sbuf_free(&err);
	free(data);
	free(raw);
	free(session);
	kv_cmd_end(&c);
	return code;
}
