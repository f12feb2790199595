/* fuzz_http_query.c: libFuzzer target for httpd's request parsing:
 * percent-decoding, query strings and blocking parameters. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *dec, enc[512];
	struct hquery q;
	struct blocking b;
	const char *err;
	size_t n;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (url_decode(s, size, false, &dec, &n) == 0)
		free(dec);
	if (hquery_parse(&q, s) == 0) {
		(void)parse_blocking(&q, 300000, 600000, &b, &err);
		hquery_encode(&q, enc, sizeof(enc));
	}
	hquery_free(&q);
	free(s);
	return 0;
}
