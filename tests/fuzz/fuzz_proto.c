/* fuzz_proto.c: libFuzzer target for every proto/ decoder: the envelope
 * first, then the payload decoder its type selects, then each decoded
 * item of a read reply. */
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m;
	struct lerr e;
	union {
		struct msg_kv_read r;
		struct msg_kv_write w;
		struct msg_kv_read_reply rr;
		struct msg_kv_write_reply wr;
		struct msg_kv_status_reply sr;
		struct msg_admin_req ar;
		struct msg_admin_reply arr;
		struct msg_ctl_status_reply cs;
		struct msg_error er;
	} u;

	if (proto_decode(data, size, &m, &e) != 0)
		return 0;
	switch (m.type) {
	case MSG_KV_READ:
		(void)msg_kv_read_dec(&m, &u.r, &e);
		break;
	case MSG_KV_WRITE:
		(void)msg_kv_write_dec(&m, &u.w, &e);
		break;
	case MSG_KV_READ | PROTO_REPLY:
		if (msg_kv_read_reply_dec(&m, &u.rr, &e) == 0) {
			for (uint32_t i = 0; i < u.rr.n_items; i++) {
				struct msg_kv_entry ent;
				const char *k;
				size_t kl;

				(void)msg_kv_entry_dec(&u.rr.items[i], &ent);
				(void)msg_kv_key_dec(&u.rr.items[i], &k, &kl);
			}
		}
		break;
	case MSG_KV_WRITE | PROTO_REPLY:
		(void)msg_kv_write_reply_dec(&m, &u.wr, &e);
		break;
	case MSG_KV_STATUS | PROTO_REPLY:
		(void)msg_kv_status_reply_dec(&m, &u.sr, &e);
		break;
	case MSG_CTL_STATUS | PROTO_REPLY:
		(void)msg_ctl_status_reply_dec(&m, &u.cs, &e);
		break;
	case MSG_ERROR | PROTO_REPLY:
		(void)msg_error_dec(&m, &u.er, &e);
		break;
	default:
		if (m.type & PROTO_REPLY)
			(void)msg_admin_reply_dec(&m, &u.arr, &e);
		else
			(void)msg_admin_req_dec(&m, &u.ar, &e);
		break;
	}
	proto_msg_free(&m);
	return 0;
}
