/* base64.h: RFC 4648 base64, standard alphabet with '=' padding, decoded
 * as Go's encoding/base64.StdEncoding does, because every value that
 * crosses Consul's HTTP API (KV "Value", txn ops, kv export files) was
 * written by Go code or is read by it. Pure functions, no allocation:
 * the caller sizes the output with the *_len helpers. */
#ifndef LICTOR_BASE64_H
#define LICTOR_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters b64_encode writes for n input bytes (without the NUL). */
#define b64_encoded_len(n) ((((size_t)(n) + 2) / 3) * 4)
/* An upper bound of the bytes b64_decode writes for n input chars. */
#define b64_decoded_maxlen(n) ((((size_t)(n) + 3) / 4) * 3)

/* Encodes in[0..n) into out, which must hold b64_encoded_len(n) + 1
 * bytes; out is NUL-terminated. Returns the length written (without the
 * NUL). */
size_t b64_encode(const uint8_t *in, size_t n, char *out);

/* Decodes in[0..n) into out (room for b64_decoded_maxlen(n) bytes) and
 * sets *outlen. Accepts what Go's StdEncoding.DecodeString accepts:
 * padded input, '\r' and '\n' anywhere are skipped, unused trailing bits
 * need not be zero. Returns 0, or -LE_INVAL on any other input (bad
 * character, missing or misplaced padding, data after the padding); out
 * is then undefined. */
int b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);

/* As b64_decode, and on failure sets *errpos to the input offset Go
 * reports ("illegal base64 data at input byte N"). */
int b64_decode_pos(const char *in, size_t n, uint8_t *out, size_t *outlen,
    size_t *errpos);

#endif
