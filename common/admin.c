/* admin.c: the shared admin socket behind every daemon. */
#include "admin.h"
#include "gotime.h"
#include "ipc.h"
#include "log.h"
#include "rundir.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct admin {
	struct ipc_server *srv;
	const char *daemon;
	const struct admin_ops *ops;
	void *arg;
	uint64_t boot;
	uint64_t started;
};

static void
admin_reply(struct ipc_req *r, int code, struct sbuf *text)
{
	struct msg_admin_reply rep = { code, text->s ? text->s : "",
		text->len };

	msg_admin_reply_enc(ipc_reply_begin(r, r->msg.type), &rep);
	ipc_reply_send(r);
}

static void
admin_handle(void *arg, struct ipc_req *r)
{
	struct admin *a = arg;
	struct msg_admin_req req;
	struct lerr e;
	struct sbuf out;
	char argbuf[4097];
	enum log_level lvl;
	int code = 0;

	if (msg_admin_req_dec(&r->msg, &req, &e) != 0) {
		ipc_reply_error(r, -LE_MALFORMED, "%s", e.msg);
		return;
	}
	memcpy(argbuf, req.arg, req.arg_len);
	argbuf[req.arg_len] = '\0';
	sbuf_init(&out);
	switch (r->msg.type) {
	case MSG_ADMIN_STATUS:
		sbuf_printf(&out, "daemon %s\npid %d\nboot_id %016llx\n"
		    "uptime_ms %llu\nlog_level %s\n", a->daemon, (int)getpid(),
		    (unsigned long long)a->boot,
		    (unsigned long long)(mono_ms() - a->started),
		    log_level_name(log_getlevel()));
		break;
	case MSG_ADMIN_STATS:
		if (a->ops->stats != NULL)
			a->ops->stats(a->arg, &out);
		sbuf_printf(&out, "admin.requests %llu\nadmin.bad %llu\n",
		    (unsigned long long)ipc_server_served(a->srv),
		    (unsigned long long)ipc_server_bad(a->srv));
		break;
	case MSG_ADMIN_LOGLEVEL:
		if (argbuf[0] != '\0') {
			if (log_parse_level(argbuf, &lvl) != 0) {
				code = -LE_INVAL;
				sbuf_printf(&out, "unknown log level \"%s\" "
				    "(want trace, debug, info, warn or err)",
				    argbuf);
				break;
			}
			log_setlevel(lvl);
			log_info("log level set to %s", log_level_name(lvl));
		}
		sbuf_printf(&out, "%s\n", log_level_name(log_getlevel()));
		break;
	case MSG_ADMIN_DUMP:
		if (a->ops->dump != NULL)
			a->ops->dump(a->arg, &out);
		else
			sbuf_adds(&out, "(nothing to dump)\n");
		break;
	case MSG_ADMIN_DIGEST:
		if (a->ops->digest != NULL)
			sbuf_printf(&out, "%016llx\n",
			    (unsigned long long)a->ops->digest(a->arg));
		else {
			code = -LE_UNSUPPORTED;
			sbuf_printf(&out, "%s has no replicated state",
			    a->daemon);
		}
		break;
	case MSG_ADMIN_FAULT:
#ifdef LICTOR_TEST_HOOKS
		if (a->ops->fault != NULL)
			code = a->ops->fault(a->arg, argbuf, &out);
		else
#endif
		{
			code = -LE_UNSUPPORTED;
			sbuf_adds(&out, "fault hooks are not built in");
		}
		break;
	default:
		code = -LE_UNSUPPORTED;
		sbuf_printf(&out, "%s does not answer %s", a->daemon,
		    proto_type_name(r->msg.type));
		break;
	}
	admin_reply(r, code, &out);
	sbuf_free(&out);
}

int
admin_open(struct admin **out, const char *rundir, const char *daemon,
    struct loop *l, const struct admin_ops *ops, void *arg, uint64_t boot_id,
    struct lerr *e)
{
	struct admin *a = calloc(1, sizeof(*a));
	char name[64], url[RUNDIR_MAX + 80];
	int rv;

	if (a == NULL)
		return lerr_set(e, LE_NOMEM, "admin");
	a->daemon = daemon;
	a->ops = ops;
	a->arg = arg;
	a->boot = boot_id;
	a->started = mono_ms();
	snprintf(name, sizeof(name), "%s.admin", daemon);
	rundir_url(rundir, name, url, sizeof(url));
	if ((rv = ipc_server_open(&a->srv, url, l, IPC_USER, admin_handle, a,
	    boot_id, e)) != 0) {
		free(a);
		return rv;
	}
	*out = a;
	return 0;
}

void
admin_close(struct admin *a)
{
	if (a == NULL)
		return;
	ipc_server_close(a->srv);
	free(a);
}
