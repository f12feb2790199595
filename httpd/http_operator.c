/* http_operator.c: what raftd knows about the cluster: /v1/status/leader,
 * /v1/status/peers, /v1/operator/raft/configuration, DELETE
 * /v1/operator/raft/peer and POST /v1/operator/raft/transfer-leader. */
#include "httpd.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define RAFT_RPC_TIMEOUT_MS 10000

enum status_kind { ST_LEADER, ST_PEERS, ST_CONFIG };

static void
on_status(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_raft_status_reply *rep = xcalloc(1, sizeof(*rep));
	struct lerr e;
	struct sbuf b;

	if (rv != 0) {
		free(rep);
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type != (MSG_RAFT_STATUS | PROTO_REPLY) ||
	    msg_raft_status_reply_dec(m, rep, &e) != 0) {
		free(rep);
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	sbuf_init(&b);
	switch (hr->kv_mode) {
	case ST_LEADER:
		sbuf_json_str(&b, rep->known_leader ? rep->leader_addr : "",
		    rep->known_leader ? rep->leader_addr_len : 0);
		break;
	case ST_PEERS: {
		bool first = true;

		sbuf_addc(&b, '[');
		for (uint32_t i = 0; i < rep->n_servers; i++) {
			if (!rep->servers[i].voter)
				continue;
			if (!first)
				sbuf_addc(&b, ',');
			first = false;
			sbuf_json_str(&b, rep->servers[i].address,
			    rep->servers[i].address_len);
		}
		sbuf_addc(&b, ']');
		break;
	}
	case ST_CONFIG:
		/* Without ?stale, Consul asks the leader: no leader, no
		 * answer. */
		if (!rep->known_leader && hr->consistency != CONS_STALE) {
			sbuf_free(&b);
			free(rep);
			hreq_error(hr, 500, "No cluster leader");
			return;
		}
		sbuf_adds(&b, "{\"Servers\":[");
		for (uint32_t i = 0; i < rep->n_servers; i++) {
			const struct msg_raft_server *s = &rep->servers[i];
			bool leader = rep->known_leader &&
			    s->id_len == rep->leader_id_len &&
			    memcmp(s->id, rep->leader_id, s->id_len) == 0;

			if (i > 0)
				sbuf_addc(&b, ',');
			sbuf_adds(&b, "{\"ID\":");
			sbuf_json_str(&b, s->id, s->id_len);
			sbuf_adds(&b, ",\"Node\":");
			sbuf_json_str(&b, s->node, s->node_len);
			sbuf_adds(&b, ",\"Address\":");
			sbuf_json_str(&b, s->address, s->address_len);
			sbuf_printf(&b, ",\"Leader\":%s,\"ProtocolVersion\":"
			    "\"3\",\"Voter\":%s,\"LastIndex\":%llu}",
			    leader ? "true" : "false",
			    s->voter ? "true" : "false",
			    (unsigned long long)s->last_index);
		}
		sbuf_printf(&b, "],\"Index\":%llu}",
		    (unsigned long long)rep->commit);
		break;
	}
	free(rep);
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
}

static void
status_call(struct hreq *hr, enum status_kind kind)
{
	struct ipc_call *call;
	/* Leader and peers are this server's view, as in Consul; the
	 * configuration is the leader's unless ?stale. */
	bool stale = kind != ST_CONFIG || hr->consistency == CONS_STALE;
	struct msg_admin_req none = { stale ? "stale" : "", stale ? 5 : 0 };

	hr->kv_mode = (int)kind;
	hr->peer = "raftd";
	call = ipc_call_new(hr->h->raft, MSG_RAFT_STATUS);
	msg_admin_req_enc(ipc_call_writer(call), &none);
	ipc_call_send_loop(call, RAFT_RPC_TIMEOUT_MS, hr->h->loop, on_status,
	    hr);
}

void
http_status_leader(struct hreq *hr)
{
	status_call(hr, ST_LEADER);
}

void
http_status_peers(struct hreq *hr)
{
	status_call(hr, ST_PEERS);
}

void
http_raft_configuration(struct hreq *hr)
{
	if (hreq_consistency(hr) < 0)
		return;
	status_call(hr, ST_CONFIG);
}

static void
on_operator(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_admin_reply rep;
	struct lerr e;

	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type != (MSG_RAFT_OPERATOR | PROTO_REPLY) ||
	    msg_admin_reply_dec(m, &rep, &e) != 0) {
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	if (rep.code != 0) {
		hreq_ipc_error(hr, rep.code, rep.text, rep.text_len);
		return;
	}
	if (hr->kv_mode == RAFT_OP_LEAVE) {
		http_agent_leave_gossip(hr);
		return;
	}
	if (hr->kv_mode == RAFT_OP_TRANSFER) {
		struct sbuf b;

		sbuf_init(&b);
		sbuf_adds(&b, "{\"Success\":true}");
		hreq_json(hr, 200, &b);
		sbuf_free(&b);
		return;
	}
	hreq_finish(hr, 200, NULL, NULL, 0);
}

static void
operator_call(struct hreq *hr, uint32_t op, const char *arg)
{
	struct msg_raft_operator o = { op, arg, strlen(arg) };
	struct ipc_call *call;

	hr->kv_mode = (int)op;
	hr->peer = "raftd";
	call = ipc_call_new(hr->h->raft, MSG_RAFT_OPERATOR);
	msg_raft_operator_enc(ipc_call_writer(call), &o);
	ipc_call_send_loop(call, RAFT_RPC_TIMEOUT_MS, hr->h->loop, on_operator,
	    hr);
}

/* DELETE /v1/operator/raft/peer?address=ip:port or ?id=<server id> */
void
http_raft_remove_peer(struct hreq *hr)
{
	const char *addr = hquery_get(&hr->q, "address");
	const char *id = hquery_get(&hr->q, "id");

	if ((addr == NULL || *addr == '\0') && (id == NULL || *id == '\0')) {
		hreq_error(hr, 400, "Must specify either ?id with the server's "
		    "ID or ?address with IP:port of peer to remove");
		return;
	}
	if (addr != NULL && *addr != '\0' && id != NULL && *id != '\0') {
		hreq_error(hr, 400, "Must specify only one of ?id or ?address");
		return;
	}
	operator_call(hr, RAFT_OP_REMOVE_PEER, addr && *addr ? addr : id);
}

/* POST /v1/operator/raft/transfer-leader[?id=<server id>] */
void
http_raft_transfer_leader(struct hreq *hr)
{
	const char *id = hquery_get(&hr->q, "id");

	operator_call(hr, RAFT_OP_TRANSFER, id ? id : "");
}

/* PUT /v1/agent/leave: a server leaves the Raft configuration, then
 * (http_gossip.c) the gossip pools, and the agent stops. */
void
http_agent_leave(struct hreq *hr)
{
	if (!hr->h->cfg.server) {
		http_agent_leave_gossip(hr);
		return;
	}
	operator_call(hr, RAFT_OP_LEAVE, "");
}
