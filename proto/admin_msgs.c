/* admin_msgs.c: payloads of the error reply, IPC cancels, the per-daemon
 * admin socket and init's control socket; encoder beside decoder. */
#include "proto.h"
#include "rd.h"

#include <string.h>

#define TEXT_MAX (1u << 20)

void
msg_error_enc(struct mpw *w, const struct msg_error *in)
{
	mpw_array(w, 2);
	mpw_i64(w, in->code);
	mpw_str(w, in->text ? in->text : "", in->text ? in->text_len : 0);
}

int
msg_error_dec(const struct proto_msg *m, struct msg_error *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 2, "error", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	return rd_end(&r);
}

void
msg_ipc_cancel_enc(struct mpw *w, const struct msg_ipc_cancel *in)
{
	mpw_array(w, 1);
	mpw_u64(w, in->req_id);
}

int
msg_ipc_cancel_dec(const struct proto_msg *m, struct msg_ipc_cancel *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 1, "ipc.cancel", e);
	rd_u64(&r, &out->req_id);
	return rd_end(&r);
}

void
msg_ipc_cancel_reply_enc(struct mpw *w, bool found)
{
	mpw_array(w, 1);
	mpw_bool(w, found);
}

int
msg_ipc_cancel_reply_dec(const struct proto_msg *m, bool *found,
    struct lerr *e)
{
	struct rd r;

	*found = false;
	rd_open(&r, m->payload, 1, "ipc.cancel reply", e);
	rd_bool(&r, found);
	return rd_end(&r);
}

void
msg_admin_req_enc(struct mpw *w, const struct msg_admin_req *in)
{
	mpw_array(w, 1);
	mpw_str(w, in->arg ? in->arg : "", in->arg ? in->arg_len : 0);
}

int
msg_admin_req_dec(const struct proto_msg *m, struct msg_admin_req *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 1, "admin request", e);
	rd_str(&r, 4096, &out->arg, &out->arg_len);
	return rd_end(&r);
}

void
msg_admin_reply_enc(struct mpw *w, const struct msg_admin_reply *in)
{
	mpw_array(w, 2);
	mpw_i64(w, in->code);
	mpw_str(w, in->text ? in->text : "", in->text ? in->text_len : 0);
}

int
msg_admin_reply_dec(const struct proto_msg *m, struct msg_admin_reply *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 2, "admin reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, 16u << 20, &out->text, &out->text_len);
	return rd_end(&r);
}

void
msg_ctl_status_reply_enc(struct mpw *w, const struct msg_ctl_status_reply *in)
{
	mpw_array(w, 3);
	mpw_i64(w, in->code);
	mpw_str(w, in->text ? in->text : "", in->text ? in->text_len : 0);
	mpw_array(w, in->n);
	for (uint32_t i = 0; i < in->n; i++) {
		const struct msg_ctl_daemon *d = &in->d[i];

		mpw_array(w, 6);
		mpw_str(w, d->name, d->name_len);
		mpw_i64(w, d->pid);
		mpw_str(w, d->state, d->state_len);
		mpw_u64(w, d->uptime_ms);
		mpw_u64(w, d->restarts);
		mpw_i64(w, d->last_exit);
	}
}

int
msg_ctl_status_reply_dec(const struct proto_msg *m,
    struct msg_ctl_status_reply *out, struct lerr *e)
{
	struct rd r;
	const msgpack_object *items;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 3, "ctl status reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_array(&r, CTL_MAX_DAEMONS, &items, &out->n);
	if (rd_end(&r) != 0)
		return r.err;
	for (uint32_t i = 0; i < out->n; i++) {
		struct msg_ctl_daemon *d = &out->d[i];
		struct rd dr;

		rd_open(&dr, &items[i], 6, "ctl status daemon", e);
		rd_str(&dr, 64, &d->name, &d->name_len);
		rd_i64(&dr, &d->pid);
		rd_str(&dr, 64, &d->state, &d->state_len);
		rd_u64(&dr, &d->uptime_ms);
		rd_u64(&dr, &d->restarts);
		rd_i64(&dr, &d->last_exit);
		if (rd_end(&dr) != 0)
			return dr.err;
	}
	return 0;
}
