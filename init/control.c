/* control.c: init's control socket (<rundir>/init.ctl.sock), answering
 * `lictor ctl`: status of every daemon, restart one, stop the agent. */
#include "init.h"
#include "gotime.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void
ctl_status(struct initd *in, struct ipc_req *r)
{
	struct msg_ctl_status_reply rep = { 0 };
	uint64_t now = mono_ms();

	for (int i = 0; i < INIT_NCHILD; i++) {
		struct child *c = &in->ch[i];
		struct msg_ctl_daemon *d = &rep.d[rep.n++];

		d->name = c->name;
		d->name_len = strlen(c->name);
		d->pid = c->pid;
		d->state = sup_state_name(c->state);
		d->state_len = strlen(d->state);
		d->uptime_ms = c->pid > 0 ? now - c->started_ms : 0;
		d->restarts = c->restarts;
		d->last_exit = c->last_exit;
	}
	rep.text = in->rundir;
	rep.text_len = strlen(in->rundir);
	msg_ctl_status_reply_enc(ipc_reply_begin(r, MSG_CTL_STATUS), &rep);
	ipc_reply_send(r);
}

static void
ctl_reply(struct ipc_req *r, int code, const char *text)
{
	struct msg_admin_reply rep = { code, text, strlen(text) };

	msg_admin_reply_enc(ipc_reply_begin(r, r->msg.type), &rep);
	ipc_reply_send(r);
}

static void
ctl_handle(void *arg, struct ipc_req *r)
{
	struct initd *in = arg;
	struct msg_admin_req req;
	struct lerr e;
	char name[65];
	int rv;

	if (msg_admin_req_dec(&r->msg, &req, &e) != 0) {
		ipc_reply_error(r, -LE_MALFORMED, "%s", e.msg);
		return;
	}
	switch (r->msg.type) {
	case MSG_CTL_STATUS:
		ctl_status(in, r);
		break;
	case MSG_CTL_RESTART:
		snprintf(name, sizeof(name), "%.*s", (int)req.arg_len,
		    req.arg);
		rv = sup_restart(in, name);
		if (rv == -LE_NOTFOUND)
			ctl_reply(r, rv, "no such daemon (want gossipd, raftd, kvd or httpd)");
		else if (rv != 0)
			ctl_reply(r, rv, "the agent is stopping");
		else {
			log_info("restarting %s on request", name);
			ctl_reply(r, 0, "restarting");
		}
		break;
	case MSG_CTL_STOP:
		ctl_reply(r, 0, "stopping");
		sup_stop_all(in);
		break;
	default:
		ipc_reply_error(r, -LE_UNSUPPORTED, "init does not answer %s",
		    proto_type_name(r->msg.type));
	}
}

int
control_open(struct initd *in, struct lerr *e)
{
	char url[RUNDIR_MAX + 40];

	rundir_url(in->rundir, "init.ctl", url, sizeof(url));
	return ipc_server_open(&in->ctl, url, in->loop, IPC_USER, ctl_handle,
	    in, in->boot, e);
}

void
control_close(struct initd *in)
{
	ipc_server_close(in->ctl);
	in->ctl = NULL;
}
