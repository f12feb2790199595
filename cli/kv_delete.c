/* kv_delete.c: `lictor kv delete [options] KEY_OR_PREFIX`, after
 * Consul's command/kv/del: one key, a prefix (-recurse), or a
 * check-and-set delete (-cas -modify-index). Texts and exit codes are
 * Consul's, including its argument checks and their order. */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

static const char delete_help[] =
"Usage: lictor kv delete [options] KEY_OR_PREFIX\n"
"\n"
"  Removes the value from lictor's key-value store at the given path. If no\n"
"  key exists at the path, no action is taken.\n"
"\n"
"  To delete the value for the key named \"foo\" in the key-value store:\n"
"\n"
"      $ lictor kv delete foo\n"
"\n"
"  To delete all keys which start with \"foo\", specify the -recurse option:\n"
"\n"
"      $ lictor kv delete -recurse foo\n"
"\n"
"  This will delete the keys named \"foo\", \"food\", and \"foo/bar/zip\" if they\n"
"  existed.\n";

static void
delete_failed(bool recurse, bool cas, const char *key, const char *why)
{
	if (recurse)
		cli_error("Error! Did not delete prefix %s: %s", key, why);
	else if (cas)
		cli_error("Error! Did not delete key %s: %s", key, why);
	else
		cli_error("Error deleting key %s: %s", key, why);
}

int
kv_delete_main(int argc, char **argv)
{
	struct kv_cmd c = { .help = delete_help };
	bool cas = false, recurse = false;
	uint64_t modify_index = 0;
	const char *key = "", *rkey;
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct sbuf err, path;
	char num[24];
	int code = 1;
	struct flag_def defs[] = {
		{ "cas", FLAG_BOOL, &cas,
		  "Perform a Check-And-Set operation. Specifying this value also "
		  "requires the -modify-index flag to be set. The default value "
		  "is false." },
		{ "modify-index", FLAG_UINT, &modify_index,
		  "Unsigned integer representing the ModifyIndex of the key. "
		  "This is used in combination with the -cas flag." },
		{ "recurse", FLAG_BOOL, &recurse,
		  "Recursively delete all keys with the path. The default value "
		  "is false." },
		{ NULL },
	};

	sbuf_init(&err);
	sbuf_init(&path);
	if (kv_cmd_start(&c, defs, argc, argv, &code) != 0)
		goto out;
	code = 1;
	if (c.argc > 1) {
		cli_error("Too many arguments (expected 1, got %d)", c.argc);
		goto out;
	}
	if (c.argc == 1)
		key = c.argv[0];
	if (key[0] == '/')
		key++;
	if (key[0] == '\0' && !recurse) {
		cli_error("Error! Missing KEY argument");
		goto out;
	}
	if (cas && modify_index == 0) {
		cli_error("Cannot delete a key that does not exist. Provide a "
		    "-modify-index greater than than 0.");
		goto out;
	}
	if (modify_index != 0 && !cas) {
		cli_error("Cannot specify -modify-index without -cas!");
		goto out;
	}
	if (recurse && cas) {
		cli_error("Cannot specify both -cas and -recurse!");
		goto out;
	}
	if (kv_cmd_client(&c) != 0)
		goto out;

	if (recurse)
		cli_params_set(&q, "recurse", "");
	else if (cas) {
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)modify_index);
		cli_params_set(&q, "cas", num);
	}
	/* Consul's api package trims one more leading '/'. */
	rkey = key[0] == '/' ? key + 1 : key;
	kv_api_path(&path, rkey, strlen(rkey));
	if (cli_do(c.client, "DELETE", path.s, path.len, &q, NULL, 0, NULL,
	    &r, &err) != 0) {
		delete_failed(recurse, cas, key, err.s);
		goto out;
	}
	if (r.status != 200) {
		cli_status_error(&r, &err);
		delete_failed(recurse, cas, key, err.s);
		goto out;
	}
	if (recurse) {
		cli_info("Success! Deleted keys with prefix: %s", key);
		code = 0;
		goto out;
	}
	if (cas && memmem(r.body, r.len, "true", 4) == NULL) {
		cli_error("Error! Did not delete key %s: CAS failed", key);
		goto out;
	}
	cli_info("Success! Deleted key: %s", key);
	code = 0;
out:
	cli_resp_free(&r);
	cli_params_free(&q);
	sbuf_free(&path);
	sbuf_free(&err);
	kv_cmd_end(&c);
	return code;
}
