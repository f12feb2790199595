/* base64_test.c: cli/base64.c against RFC 4648's test vectors and
 * against what Go's encoding/base64.StdEncoding accepts, rejects and
 * blames (the offset in "illegal base64 data at input byte N"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "err.h"

static void
check_encode(const char *in, size_t n, const char *want)
{
	char out[64];

	assert_true(b64_encoded_len(n) < sizeof(out));
	assert_int_equal(b64_encode((const uint8_t *)in, n, out),
	    strlen(want));
	assert_int_equal(b64_encoded_len(n), strlen(want));
	assert_string_equal(out, want);
}

static void
check_decode(const char *in, const char *want, size_t wantlen)
{
	uint8_t out[64];
	size_t len = 12345, pos = 777;

	assert_true(b64_decoded_maxlen(strlen(in)) <= sizeof(out));
	assert_int_equal(b64_decode_pos(in, strlen(in), out, &len, &pos), 0);
	assert_int_equal(len, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(pos, 777);	/* untouched on success */
	assert_int_equal(b64_decode(in, strlen(in), out, &len), 0);
	assert_int_equal(len, wantlen);
}

static void
check_bad(const char *in, size_t wantpos)
{
	uint8_t out[64];
	size_t len, pos = 9999;

	assert_int_equal(b64_decode_pos(in, strlen(in), out, &len, &pos),
	    -LE_INVAL);
	assert_int_equal(pos, wantpos);
	assert_int_equal(b64_decode(in, strlen(in), out, &len), -LE_INVAL);
}

static void
test_encode_rfc4648(void **state)
{
	(void)state;
	check_encode("", 0, "");
	check_encode("f", 1, "Zg==");
	check_encode("fo", 2, "Zm8=");
	check_encode("foo", 3, "Zm9v");
	check_encode("foob", 4, "Zm9vYg==");
	check_encode("fooba", 5, "Zm9vYmE=");
	check_encode("foobar", 6, "Zm9vYmFy");
}

static void
test_binary_roundtrip(void **state)
{
	uint8_t in[256], back[256];
	char enc[b64_encoded_len(256) + 1];
	size_t n, len;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(255 - i);
	check_encode("\x00\xff\xfe\x80", 4, "AP/+gA==");
	check_encode("\xfb\xff", 2, "+/8=");
	/* Every length, so each tail (0, 1, 2 bytes) meets every byte. */
	for (size_t k = 0; k <= sizeof(in); k++) {
		n = b64_encode(in, k, enc);
		assert_int_equal(n, b64_encoded_len(k));
		assert_int_equal(b64_decode(enc, n, back, &len), 0);
		assert_int_equal(len, k);
		assert_memory_equal(back, in, k);
	}
}

static void
test_decode_valid(void **state)
{
	(void)state;
	check_decode("", "", 0);
	check_decode("Zg==", "f", 1);
	check_decode("Zm8=", "fo", 2);
	check_decode("Zm9v", "foo", 3);
	check_decode("Zm9vYmFy", "foobar", 6);
	check_decode("AP/+gA==", "\x00\xff\xfe\x80", 4);
	/* Go skips CR and LF anywhere, also inside the padding. */
	check_decode("Zm\n9v\r\nYmFy\n", "foobar", 6);
	check_decode("\n", "", 0);
	check_decode("Zg==\n", "f", 1);
	check_decode("Zg=\n=", "f", 1);
	/* StdEncoding is not strict: unused low bits need not be 0. */
	check_decode("Zh==", "f", 1);
	check_decode("Zm9=", "fo", 2);
}

static void
test_decode_invalid(void **state)
{
	(void)state;
	/* Characters outside the alphabet. */
	check_bad("Zm9v!", 4);
	check_bad("Zm9v Zm9v", 4);
	check_bad("Zm9v-_", 4);		/* URL alphabet is not std */
	check_bad("\x80\x81==", 0);
	/* Inputs that end inside a quantum. */
	check_bad("Z", 0);
	check_bad("Zg", 0);
	check_bad("Zm9", 0);
	check_bad("Zm9vY", 4);
	check_bad("Zm9vYmE", 4);
	/* Bad padding. */
	check_bad("=", 0);
	check_bad("====", 0);
	check_bad("Z===", 1);
	check_bad("Zg=", 3);		/* "==" needed after two symbols */
	check_bad("Zg=a", 2);
	check_bad("Zg===", 4);
	/* Data after the padding. */
	check_bad("Zg==Zg==", 4);
	check_bad("Zm8=\nx", 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_rfc4648),
		cmocka_unit_test(test_binary_roundtrip),
		cmocka_unit_test(test_decode_valid),
		cmocka_unit_test(test_decode_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
