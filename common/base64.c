/* base64.c: RFC 4648 base64 (standard alphabet, padded). The decoder
 * follows Go's encoding/base64 quantum by quantum, so that what it
 * accepts, what it rejects and the offset it blames match the Go
 * programs on the other side of the API (see base64.h). */
#include "base64.h"
#include "err.h"

static const char enc_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of a symbol, or 0xff for a byte outside the alphabet. */
static uint8_t
dec_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (uint8_t)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (uint8_t)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (uint8_t)(c - '0' + 52);
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return 0xff;
}

size_t
b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;
	uint32_t v;

	for (; n - i >= 3; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = enc_alphabet[v >> 18 & 0x3f];
		out[o++] = enc_alphabet[v >> 12 & 0x3f];
		out[o++] = enc_alphabet[v >> 6 & 0x3f];
		out[o++] = enc_alphabet[v & 0x3f];
	}
	if (n - i > 0) {
		v = (uint32_t)in[i] << 16;
		if (n - i == 2)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = enc_alphabet[v >> 18 & 0x3f];
		out[o++] = enc_alphabet[v >> 12 & 0x3f];
		out[o++] = n - i == 2 ? enc_alphabet[v >> 6 & 0x3f] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int
is_nl(char c)
{
	return c == '\n' || c == '\r';
}

/*
 * Decodes one quantum (up to four symbols, newlines skipped) starting at
 * *si. Returns the bytes written (0..3), 0 at the clean end of input, or
 * -1 with *errpos set. *done is set once padding ended the data.
 */
static int
decode_quantum(const char *src, size_t n, size_t *si, uint8_t *dst,
    size_t *errpos, int *done)
{
	uint8_t d[4] = { 0, 0, 0, 0 };
	size_t i = *si;
	int j, dlen = 4;
	uint32_t v;

	for (j = 0; j < 4; j++) {
		unsigned char c;

		if (i == n) {
			if (j == 0) {
				*si = i;
				return 0;
			}
			/* A padded encoding must not end mid-quantum. */
			*errpos = i - (size_t)j;
			return -1;
		}
		c = (unsigned char)src[i++];
		if ((d[j] = dec_val(c)) != 0xff)
			continue;
		d[j] = 0;
		if (is_nl((char)c)) {
			j--;
			continue;
		}
		if (c != '=') {
			*errpos = i - 1;
			return -1;
		}
		/* Padding: only after two or three symbols. */
		if (j < 2) {
			*errpos = i - 1;
			return -1;
		}
		if (j == 2) {
			/* "==" is needed; the first '=' is consumed. */
			while (i < n && is_nl(src[i]))
				i++;
			if (i == n) {
				*errpos = n;
				return -1;
			}
			if (src[i] != '=') {
				*errpos = i - 1;
				return -1;
			}
			i++;
		}
		while (i < n && is_nl(src[i]))
			i++;
		if (i < n) {
			/* Data after the padding. */
			*errpos = i;
			return -1;
		}
		dlen = j;
		*done = 1;
		break;
	}
	v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 |
	    d[3];
	/* Unused low bits of a short quantum are ignored, as Go's
	 * non-strict StdEncoding does. */
	dst[0] = (uint8_t)(v >> 16);
	if (dlen >= 3)
		dst[1] = (uint8_t)(v >> 8);
	if (dlen == 4)
		dst[2] = (uint8_t)v;
	*si = i;
	return dlen - 1;
}

int
b64_decode_pos(const char *in, size_t n, uint8_t *out, size_t *outlen,
    size_t *errpos)
{
	size_t si = 0, o = 0, pos = 0;
	int w, done = 0;

	while (si < n && !done) {
		w = decode_quantum(in, n, &si, out + o, &pos, &done);
		if (w < 0) {
			if (errpos != NULL)
				*errpos = pos;
			*outlen = o;
			return -LE_INVAL;
		}
		if (w == 0 && !done)
			break;	/* only newlines were left */
		o += (size_t)w;
	}
	*outlen = o;
	return 0;
}

int
b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
	return b64_decode_pos(in, n, out, outlen, NULL);
}
