/* fuzz_proto.c: libFuzzer target for every proto/ decoder: the envelope
 * first, then the payload decoder its type selects, then each decoded
 * item of a read reply. */
#include <stddef.h>
#include <stdint.h>

#include "gossip_ipc.h"
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
		struct msg_ipc_cancel ic;
		bool found;
		struct msg_kv_snapshot ks;
		struct msg_raft_propose rp;
		struct msg_raft_index_reply ri;
		struct msg_raft_read_index rr2;
		struct msg_raft_fetch rf;
		struct msg_raft_fetch_reply rfr;
		struct msg_raft_status_reply rs;
		struct msg_raft_operator ro;
		struct msg_raft_kv_forward kf;
		struct msg_raft_kv_forward_reply kfr;
		struct msg_cat_read cr;
		struct msg_cat_register creg;
		struct msg_cat_deregister cdr;
		struct msg_gossip_members gm;
		struct msg_gossip_members_reply gmr;
		struct msg_gossip_join gj;
		struct msg_gossip_reply gr;
		struct msg_gossip_force_leave gf;
		struct msg_gossip_event ge;
		struct msg_gossip_event_list gel;
		struct msg_gossip_event_list_reply gelr;
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
	case MSG_KV_SNAPSHOT:
		(void)msg_kv_snapshot_dec(&m, &u.ks, &e);
		break;
	case MSG_RAFT_PROPOSE:
		if (msg_raft_propose_dec(&m, &u.rp, &e) == 0) {
			struct proto_obj o, c;
			struct msg_sm_cmd cmd;
			const void *d;
			size_t dl;
			uint32_t n;

			/* A proposal is a batch of state machine commands. */
			if (msg_raft_batch_open(u.rp.data, u.rp.data_len, &o,
			    &n, &e) == 0) {
				for (uint32_t i = 0; i < n; i++) {
					if (msg_raft_batch_item(&o, i, &d,
					    &dl) != 0)
						continue;
					if (proto_obj_decode(d, dl, &c, &e) ==
					    0)
						(void)msg_sm_cmd_dec(c.root,
						    &cmd, &e);
					proto_obj_free(&c);
				}
			}
			proto_obj_free(&o);
		}
		break;
	case MSG_KV_SNAPSHOT | PROTO_REPLY:
	case MSG_RAFT_PROPOSE | PROTO_REPLY:
	case MSG_RAFT_READ_INDEX | PROTO_REPLY:
		(void)msg_raft_index_reply_dec(&m, &u.ri, &e);
		break;
	case MSG_RAFT_READ_INDEX:
		(void)msg_raft_read_index_dec(&m, &u.rr2, &e);
		break;
	case MSG_RAFT_FETCH:
		(void)msg_raft_fetch_dec(&m, &u.rf, &e);
		break;
	case MSG_RAFT_FETCH | PROTO_REPLY:
		if (msg_raft_fetch_reply_dec(&m, &u.rfr, &e) == 0) {
			for (uint32_t i = 0; i < u.rfr.n_entries; i++) {
				struct msg_raft_entry ent;

				(void)msg_raft_entry_dec(&u.rfr.entries[i],
				    &ent);
			}
		}
		break;
	case MSG_RAFT_STATUS | PROTO_REPLY:
		(void)msg_raft_status_reply_dec(&m, &u.rs, &e);
		break;
	case MSG_RAFT_OPERATOR:
		(void)msg_raft_operator_dec(&m, &u.ro, &e);
		break;
	case MSG_ERROR | PROTO_REPLY:
		(void)msg_error_dec(&m, &u.er, &e);
		break;
	case MSG_IPC_CANCEL:
		(void)msg_ipc_cancel_dec(&m, &u.ic, &e);
		break;
	case MSG_IPC_CANCEL | PROTO_REPLY:
		(void)msg_ipc_cancel_reply_dec(&m, &u.found, &e);
		break;
	case MSG_RAFT_KV_FORWARD:
		if (msg_raft_kv_forward_dec(&m, &u.kf, &e) == 0 &&
		    kv_fwd_check(u.kf.type, u.kf.payload, u.kf.payload_len,
		    &e) == 0 && kv_fwd_is_read(u.kf.type)) {
			struct mpw w;
			uint64_t wait = 0;

			mpw_init(&w);
			if (kv_fwd_read_wait(u.kf.type, u.kf.payload,
			    u.kf.payload_len, &wait, &e) == 0)
				(void)kv_fwd_read_rewait(u.kf.type,
				    u.kf.payload, u.kf.payload_len, wait / 2,
				    &w, &e);
			mpw_free(&w);
		}
		break;
	case MSG_RAFT_KV_FORWARD | PROTO_REPLY:
		if (msg_raft_kv_forward_reply_dec(&m, &u.kfr, &e) == 0 &&
		    u.kfr.code == 0)
			(void)kv_fwd_check(u.kfr.type, u.kfr.payload,
			    u.kfr.payload_len, &e);
		break;
	case MSG_CAT_READ:
		(void)msg_cat_read_dec(&m, &u.cr, &e);
		break;
	case MSG_CAT_REGISTER:
		if (msg_cat_register_dec(&m, &u.creg, &e) == 0) {
			struct mpw w;

			/* kvd proposes what it decoded: re-encode it. */
			mpw_init(&w);
			msg_cat_register_enc(&w, &u.creg);
			mpw_free(&w);
		}
		break;
	case MSG_CAT_DEREGISTER:
		(void)msg_cat_deregister_dec(&m, &u.cdr, &e);
		break;
	case MSG_CAT_READ | PROTO_REPLY:
		if (msg_kv_read_reply_dec(&m, &u.rr, &e) == 0) {
			for (uint32_t i = 0; i < u.rr.n_items; i++) {
				struct msg_cat_node n;
				struct msg_cat_check c;

				(void)msg_cat_node_dec(&u.rr.items[i], &n);
				(void)msg_cat_check_dec(&u.rr.items[i], &c);
			}
		}
		break;
	case MSG_GOSSIP_MEMBERS:
		(void)msg_gossip_members_dec(&m, &u.gm, &e);
		break;
	case MSG_GOSSIP_MEMBERS | PROTO_REPLY:
		if (msg_gossip_members_reply_dec(&m, &u.gmr, &e) == 0) {
			for (uint32_t i = 0; i < u.gmr.n_members; i++) {
				struct msg_gossip_member mb;
				const char *k, *v;
				size_t kl, vl;

				if (msg_gossip_member_dec(&u.gmr.members[i],
				    &mb) != 0)
					continue;
				for (uint32_t t = 0; t < mb.n_tags; t++)
					msg_gossip_member_tag(&mb, t, &k, &kl,
					    &v, &vl);
			}
		}
		break;
	case MSG_GOSSIP_JOIN:
		(void)msg_gossip_join_dec(&m, &u.gj, &e);
		break;
	case MSG_GOSSIP_JOIN | PROTO_REPLY:
	case MSG_GOSSIP_LEAVE | PROTO_REPLY:
	case MSG_GOSSIP_FORCE_LEAVE | PROTO_REPLY:
	case MSG_GOSSIP_EVENT_FIRE | PROTO_REPLY:
		(void)msg_gossip_reply_dec(&m, &u.gr, &e);
		break;
	case MSG_GOSSIP_FORCE_LEAVE:
		(void)msg_gossip_force_leave_dec(&m, &u.gf, &e);
		break;
	case MSG_GOSSIP_EVENT_FIRE:
		(void)msg_gossip_event_fire_dec(&m, &u.ge, &e);
		break;
	case MSG_GOSSIP_EVENT_LIST:
		(void)msg_gossip_event_list_dec(&m, &u.gel, &e);
		break;
	case MSG_GOSSIP_EVENT_LIST | PROTO_REPLY:
		if (msg_gossip_event_list_reply_dec(&m, &u.gelr, &e) == 0) {
			for (uint32_t i = 0; i < u.gelr.n_events; i++) {
				struct msg_gossip_event ev;

				(void)msg_gossip_event_dec(&u.gelr.events[i],
				    &ev);
			}
		}
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
