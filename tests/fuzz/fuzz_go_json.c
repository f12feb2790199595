/* fuzz_go_json.c: libFuzzer target for httpd's Go-compatible reading of
 * request bodies: the scanner on any bytes, then jansson on what the
 * scanner accepted (as http_catalog.c does). */
#include <stddef.h>
#include <stdint.h>

#include "go_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	size_t end = 0;
	json_t *j;

	if (go_json_scan((const char *)data, size, &end, err,
	    sizeof(err)) != 0)
		return 0;
	if (end > size)
		__builtin_trap();
	j = go_json_load((const char *)data, end, err, sizeof(err));
	json_decref(j);
	return 0;
}
