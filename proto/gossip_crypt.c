/* gossip_crypt.c: memberlist's encryption (§6.5): the keyring, AES-GCM
 * envelopes [vsn][nonce 12][ciphertext][tag 16] for packets and
 * [10][u32 BE len][envelope] for streams, as memberlist's security.go and
 * net.go write them. mbedtls does the AES-GCM; getrandom(2) the nonces.
 * This is the only file that calls mbedtls. */
#include "gossip_wire.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/gcm.h>

#include "err.h"

#define VSN_SIZE	1
#define NONCE_SIZE	12
#define TAG_SIZE	16
#define BLOCK_SIZE	16
#define STREAM_HDR	5	/* [10][u32 BE length] */

/* --- the keyring --------------------------------------------------------- */

static int
key_find(const struct gw_keyring *kr, const uint8_t *key, size_t len)
{
	for (unsigned i = 0; i < kr->n; i++)
		if (kr->len[i] == len && memcmp(kr->key[i], key, len) == 0)
			return (int)i;
	return -1;
}

int
gw_keyring_add(struct gw_keyring *kr, const uint8_t *key, size_t len)
{
	if (len != 16 && len != 24 && len != 32)
		return -LE_INVAL;
	/* memberlist's AddKey: installing a key twice is not an error. */
	if (key_find(kr, key, len) >= 0)
		return 0;
	if (kr->n >= GW_KEYS_MAX)
		return -LE_TOOBIG;
	memcpy(kr->key[kr->n], key, len);
	kr->len[kr->n] = (uint8_t)len;
	kr->n++;
	return 0;
}

int
gw_keyring_use(struct gw_keyring *kr, const uint8_t *key, size_t len)
{
	uint8_t k[32];
	int i = key_find(kr, key, len);

	if (i < 0)
		return -LE_NOTFOUND;
	/* The primary moves to the front, the others keep their order. */
	memcpy(k, kr->key[i], sizeof(k));
	memmove(kr->key[1], kr->key[0], (size_t)i * sizeof(kr->key[0]));
	memmove(kr->len + 1, kr->len, (size_t)i);
	memcpy(kr->key[0], k, sizeof(k));
	kr->len[0] = (uint8_t)len;
	return 0;
}

int
gw_keyring_remove(struct gw_keyring *kr, const uint8_t *key, size_t len)
{
	int i = key_find(kr, key, len);

	if (i < 0)
		return -LE_NOTFOUND;
	if (i == 0)
		return -LE_STATE;	/* memberlist refuses it too */
	memmove(kr->key[i], kr->key[i + 1],
	    (kr->n - (unsigned)i - 1) * sizeof(kr->key[0]));
	memmove(kr->len + i, kr->len + i + 1, kr->n - (unsigned)i - 1);
	kr->n--;
	memset(kr->key[kr->n], 0, sizeof(kr->key[0]));
	kr->len[kr->n] = 0;
	return 0;
}

/* --- envelopes ----------------------------------------------------------- */

static size_t
sealed_len(uint8_t vsn, size_t len)
{
	size_t pad = vsn == 0 ? BLOCK_SIZE - len % BLOCK_SIZE : 0;

	return VSN_SIZE + NONCE_SIZE + len + pad + TAG_SIZE;
}

int
gw_envelope_seal(const uint8_t *key, size_t key_len, uint8_t vsn,
    const uint8_t nonce[12], const uint8_t *msg, size_t len,
    const uint8_t *aad, size_t aad_len, struct gw_buf *out)
{
	static const uint8_t none[1];
	mbedtls_gcm_context gcm;
	size_t start = out->len, pad = 0, total;
	uint8_t *p;
	int rc;

	if ((key_len != 16 && key_len != 24 && key_len != 32) || vsn > 1)
		return -LE_INVAL;
	if (len > SIZE_MAX / 2)
		return -LE_NOMEM;
	total = sealed_len(vsn, len);
	if ((rc = gw_buf_reserve(out, total)) < 0)
		return rc;
	p = out->p + start;
	p[0] = vsn;
	memcpy(p + VSN_SIZE, nonce, NONCE_SIZE);
	p += VSN_SIZE + NONCE_SIZE;
	/* Version 0 pads the plaintext to whole blocks (PKCS#7) before
	 * sealing it; the padding is sealed in place after the message. */
	if (len > 0)
		memcpy(p, msg, len);
	if (vsn == 0) {
		pad = BLOCK_SIZE - len % BLOCK_SIZE;
		memset(p + len, (int)pad, pad);
	}
	mbedtls_gcm_init(&gcm);
	if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key,
	    (unsigned)key_len * 8) != 0 ||
	    mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len + pad,
	    nonce, NONCE_SIZE, aad_len ? aad : none, aad_len, p, p,
	    TAG_SIZE, p + len + pad) != 0) {
		mbedtls_gcm_free(&gcm);
		return -LE_INVAL;
	}
	mbedtls_gcm_free(&gcm);
	out->len = start + total;
	return 0;
}

static int
fresh_nonce(uint8_t nonce[NONCE_SIZE])
{
	size_t got = 0;

	while (got < NONCE_SIZE) {
		ssize_t n = getrandom(nonce + got, NONCE_SIZE - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -LE_IO;
		}
		got += (size_t)n;
	}
	return 0;
}

static int
seal(const struct gw_keyring *kr, const uint8_t *msg, size_t len,
    const uint8_t *aad, size_t aad_len, struct gw_buf *out)
{
	uint8_t nonce[NONCE_SIZE];
	int rc;

	if (kr == NULL || kr->n == 0)
		return -LE_INVAL;
	if ((rc = fresh_nonce(nonce)) < 0)
		return rc;
	return gw_envelope_seal(kr->key[0], kr->len[0], 1, nonce, msg, len,
	    aad, aad_len, out);
}

static int
fail(const char **why, const char *text, int rc)
{
	if (why)
		*why = text;
	return rc;
}

/* memberlist's decryptPayload: the version, the least length for it,
 * every key in turn; then version 0's padding, which memberlist strips
 * without looking (a bad length byte would make it panic) and we check. */
static int
open_envelope(const struct gw_keyring *kr, const uint8_t *env, size_t len,
    const uint8_t *aad, size_t aad_len, struct gw_buf *out, const char **why)
{
	static const uint8_t none[1];
	size_t start = out->len, ct_len;
	uint8_t vsn;
	int rc;

	if (why)
		*why = NULL;
	if (kr == NULL || kr->n == 0)
		return fail(why, "encryption is not configured", -LE_INVAL);
	if (len == 0)
		return fail(why, "Cannot decrypt empty payload", -LE_MALFORMED);
	vsn = env[0];
	if (vsn > 1)
		return fail(why, "Unsupported encryption version",
		    -LE_MALFORMED);
	if (len < sealed_len(vsn, 0))
		return fail(why, "Payload is too small to decrypt",
		    -LE_MALFORMED);
	ct_len = len - VSN_SIZE - NONCE_SIZE - TAG_SIZE;
	if ((rc = gw_buf_reserve(out, ct_len + 1)) < 0)
		return fail(why, "out of memory", rc);
	for (unsigned i = 0; i < kr->n; i++) {
		mbedtls_gcm_context gcm;
		uint8_t *p = out->p + start;

		mbedtls_gcm_init(&gcm);
		rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES,
		    kr->key[i], (unsigned)kr->len[i] * 8);
		if (rc == 0)
			rc = mbedtls_gcm_auth_decrypt(&gcm, ct_len,
			    env + VSN_SIZE, NONCE_SIZE, aad_len ? aad : none,
			    aad_len, env + len - TAG_SIZE, TAG_SIZE,
			    ct_len ? env + VSN_SIZE + NONCE_SIZE : none, p);
		mbedtls_gcm_free(&gcm);
		if (rc != 0)
			continue;
		if (vsn == 0) {
			uint8_t pad = ct_len ? p[ct_len - 1] : 0;

			if (pad < 1 || pad > BLOCK_SIZE || pad > ct_len ||
			    ct_len % BLOCK_SIZE != 0)
				return fail(why, "bad PKCS#7 padding",
				    -LE_MALFORMED);
			for (size_t j = ct_len - pad; j < ct_len; j++)
				if (p[j] != pad)
					return fail(why, "bad PKCS#7 padding",
					    -LE_MALFORMED);
			ct_len -= pad;
		}
		out->len = start + ct_len;
		return 0;
	}
	return fail(why, "No installed keys could decrypt the message",
	    -LE_PERM);
}

int
gw_seal_udp(const struct gw_keyring *kr, const uint8_t *msg, size_t len,
    struct gw_bytes label, struct gw_buf *out)
{
	return seal(kr, msg, len, label.p, label.len, out);
}

int
gw_open_udp(const struct gw_keyring *kr, const uint8_t *pkt, size_t len,
    struct gw_bytes label, struct gw_buf *out, const char **why)
{
	return open_envelope(kr, pkt, len, label.p, label.len, out, why);
}

/* The AAD of a stream frame: its 5 header bytes, then the label. */
static int
stream_aad(const uint8_t hdr[STREAM_HDR], struct gw_bytes label,
    struct gw_buf *aad)
{
	int rc;

	if ((rc = gw_buf_append(aad, hdr, STREAM_HDR)) < 0)
		return rc;
	if (label.len > 0)
		return gw_buf_append(aad, label.p, label.len);
	return 0;
}

int
gw_seal_stream(const struct gw_keyring *kr, const uint8_t *msg, size_t len,
    struct gw_bytes label, struct gw_buf *out)
{
	struct gw_buf aad = { 0 };
	size_t start = out->len, env = sealed_len(1, len);
	uint8_t hdr[STREAM_HDR];
	int rc;

	if (kr == NULL || kr->n == 0 || len > GW_STREAM_MAX ||
	    env > GW_STREAM_MAX)
		return -LE_INVAL;	/* a receiver would refuse it */
	hdr[0] = GW_ENCRYPT;
	hdr[1] = (uint8_t)(env >> 24);
	hdr[2] = (uint8_t)(env >> 16);
	hdr[3] = (uint8_t)(env >> 8);
	hdr[4] = (uint8_t)env;
	if ((rc = stream_aad(hdr, label, &aad)) < 0 ||
	    (rc = gw_buf_append(out, hdr, STREAM_HDR)) < 0 ||
	    (rc = seal(kr, msg, len, aad.p, aad.len, out)) < 0)
		out->len = start;
	gw_buf_free(&aad);
	return rc;
}

int
gw_open_stream(const struct gw_keyring *kr, const uint8_t *frame,
    size_t len, struct gw_bytes label, struct gw_buf *out, const char **why)
{
	struct gw_buf aad = { 0 };
	uint32_t n;
	int rc;

	if (why)
		*why = NULL;
	if (len < STREAM_HDR || frame[0] != GW_ENCRYPT)
		return fail(why, "not an encrypted stream frame",
		    -LE_MALFORMED);
	n = (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 |
	    (uint32_t)frame[3] << 8 | frame[4];
	if (n > GW_STREAM_MAX)
		return fail(why, "Remote node state is larger than limit",
		    -LE_TOOBIG);
	if (len - STREAM_HDR != n)
		return fail(why, len - STREAM_HDR < n ?
		    "truncated encrypted stream" :
		    "trailing bytes after encrypted stream", -LE_MALFORMED);
	if ((rc = stream_aad(frame, label, &aad)) < 0)
		return fail(why, "out of memory", rc);
	rc = open_envelope(kr, frame + STREAM_HDR, n, aad.p, aad.len, out,
	    why);
	gw_buf_free(&aad);
	return rc;
}
