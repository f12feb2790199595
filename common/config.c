/* config.c: where configuration comes from and how the sources combine:
 * YAML and JSON files and directories read through libyaml's event API
 * (the only file that calls libyaml), the LICTOR_LOCAL_CONFIG variable,
 * `lictor agent` flags, -dev adjustments and the cross-field rules of
 * config_validate. Each value lands through the schema of
 * config_schema.c; config files are user input, so every failure is a
 * message naming the source, line, key and value, never a crash. */
#include "config_schema.h"
#include "gotime.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_FILE	(4 << 20)	/* bytes of one file or string */
#define MAX_DEPTH	32		/* nested mappings and lists */
#define ENV_NAME	"LICTOR_LOCAL_CONFIG"

struct loader {
	yaml_parser_t p;
	struct lictor_config *c;
	const char *name;	/* file name or ENV_NAME, for errors */
	bool *set;		/* per schema entry: given by a source */
	struct lerr *e;
};

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "config: <name>:<line>: <message>" */
static int
err_at(struct loader *l, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
err_at(struct loader *l, size_t line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return lerr_set(l->e, LE_CONFIG, "config: %s:%zu: %s", l->name, line,
	    msg);
}

static int
bad_value(struct loader *l, size_t line, const char *key, const char *val,
    const char *why)
{
	return err_at(l, line, "%s: invalid value \"%.100s\": %s", key, val,
	    why);
}

static int
syntax_error(struct loader *l)
{
	yaml_parser_t *p = &l->p;
	const char *problem = p->problem ? p->problem : "syntax error";

	if (p->error == YAML_MEMORY_ERROR)
		return lerr_set(l->e, LE_NOMEM, "config: %s: out of memory",
		    l->name);
	if (p->error == YAML_READER_ERROR)
		return lerr_set(l->e, LE_CONFIG, "config: %s: %s at byte %zu",
		    l->name, problem, p->problem_offset);
	if (p->context != NULL)
		return lerr_set(l->e, LE_CONFIG, "config: %s:%zu:%zu: %s "
		    "(%s at line %zu)", l->name, p->problem_mark.line + 1,
		    p->problem_mark.column + 1, problem, p->context,
		    p->context_mark.line + 1);
	return lerr_set(l->e, LE_CONFIG, "config: %s:%zu:%zu: %s", l->name,
	    p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

/* The next event; on failure there is nothing to delete. */
static int
next(struct loader *l, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&l->p, ev))
		return syntax_error(l);
	return 0;
}

static size_t
line_of(const yaml_event_t *ev)
{
	return ev->start_mark.line + 1;
}

static bool
is_start(const yaml_event_t *ev)
{
	return ev->type == YAML_SEQUENCE_START_EVENT ||
	    ev->type == YAML_MAPPING_START_EVENT;
}

static bool
is_plain(const yaml_event_t *ev)
{
	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* JSON null, YAML ~ or an empty value: "not given", as Go's decoders
 * leave a nil pointer. */
static bool
is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	return ev->type == YAML_SCALAR_EVENT && is_plain(ev) &&
	    (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

static int
too_deep(struct loader *l, const yaml_event_t *ev)
{
	return err_at(l, line_of(ev), "nesting deeper than %d levels",
	    MAX_DEPTH);
}

/* Consumes the rest of the node that ev (at depth) starts. */
static int
skip(struct loader *l, const yaml_event_t *ev, int depth)
{
	yaml_event_t x;
	int nest = 1, rv;

	if (!is_start(ev))
		return 0;
	while (nest > 0) {
		if ((rv = next(l, &x)) != 0)
			return rv;
		if (is_start(&x)) {
			if (depth + nest > MAX_DEPTH) {
				rv = too_deep(l, &x);
				yaml_event_delete(&x);
				return rv;
			}
			nest++;
		} else if (x.type == YAML_SEQUENCE_END_EVENT ||
		    x.type == YAML_MAPPING_END_EVENT)
			nest--;
		yaml_event_delete(&x);
	}
	return 0;
}

static const char *
want_text(enum cfg_type t)
{
	switch (t) {
	case CT_BOOL:
		return "want true or false";
	case CT_INT:
		return "want an integer";
	case CT_STRING:
		return "want a string";
	case CT_LIST:
		return "want a list of strings";
	case CT_DURATION:
		break;
	}
	return "want a duration string such as \"300s\"";
}

static bool
is_decimal(const char *v)
{
	if (*v == '-' || *v == '+')
		v++;
	return *v != '\0' && v[strspn(v, "0123456789")] == '\0';
}

static void
mark_set(struct loader *l, const struct cfg_key *k)
{
	if (l->set != NULL)
		l->set[k - cfg_schema] = true;
}

/* One scalar for a CT_BOOL, CT_INT, CT_STRING or CT_DURATION key. */
static int
load_scalar(struct loader *l, const struct cfg_key *k, const char *key,
    const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t line = line_of(ev);
	struct lerr r = { "" };
	char why[160];
	long long n;
	int64_t ns;
	int rv;

	if (strlen(v) != ev->data.scalar.length)
		return err_at(l, line, "%s: invalid value: contains a NUL "
		    "character", key);
	switch (k->type) {
	case CT_BOOL:
		if (!is_plain(ev))
			return bad_value(l, line, key, v, want_text(k->type));
		if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
		    strcmp(v, "TRUE") == 0)
			n = 1;
		else if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
		    strcmp(v, "FALSE") == 0)
			n = 0;
		else
			return bad_value(l, line, key, v, want_text(k->type));
		rv = cfg_store_int(l->c, k, n, &r);
		break;
	case CT_INT:
		/* Decimal as JSON writes it; "8500" in quotes is a string,
		 * which Consul's decoder refuses as well. */
		if (!is_plain(ev) || !is_decimal(v))
			return bad_value(l, line, key, v, want_text(k->type));
		errno = 0;
		n = strtoll(v, NULL, 10);
		if (errno == ERANGE) {
			cfg_range_text(k, why, sizeof(why));
			return bad_value(l, line, key, v, why);
		}
		rv = cfg_store_int(l->c, k, n, &r);
		break;
	case CT_DURATION:
		/* Consul takes durations only as strings ("300s"). */
		if (is_plain(ev) && strspn(v, "0123456789+-.eE") == strlen(v))
			return bad_value(l, line, key, v, "want a duration "
			    "string such as \"300s\"; numbers are not "
			    "accepted");
		rv = go_duration_parse(v, &ns);
		if (rv == -LE_RANGE)	/* past int64 nanoseconds, ~292y */
			return bad_value(l, line, key, v, "duration is too "
			    "large");
		if (rv != 0)
			return bad_value(l, line, key, v, want_text(k->type));
		rv = cfg_store_int(l->c, k, ns / 1000000, &r);
		break;
	default:
		rv = cfg_store_string(l->c, k, v, &r);
		break;
	}
	if (rv != 0)
		return bad_value(l, line, key, v, r.msg);
	mark_set(l, k);
	return 0;
}

/* A list of strings whose SEQUENCE-START was just read. Items are
 * appended, as Consul concatenates lists from several files. */
static int
load_list(struct loader *l, const struct cfg_key *k, const char *key)
{
	struct lerr r = { "" };
	yaml_event_t x;
	const char *v;
	int rv = 0;

	for (;;) {
		if ((rv = next(l, &x)) != 0)
			return rv;
		if (x.type == YAML_SEQUENCE_END_EVENT)
			break;
		v = x.type == YAML_SCALAR_EVENT ?
		    (const char *)x.data.scalar.value : NULL;
		if (v == NULL || is_null(&x))
			rv = err_at(l, line_of(&x), "%s: invalid list item: "
			    "want a string", key);
		else if (strlen(v) != x.data.scalar.length)
			rv = err_at(l, line_of(&x), "%s: invalid list item: "
			    "contains a NUL character", key);
		else if (cfg_store_item(l->c, k, v, &r) != 0)
			rv = bad_value(l, line_of(&x), key, v, r.msg);
		yaml_event_delete(&x);
		if (rv != 0)
			return rv;
	}
	yaml_event_delete(&x);
	mark_set(l, k);
	return 0;
}

static int load_map(struct loader *, const char *, int);

/* The value of path, whose first event is ev, at nesting depth. */
static int
load_entry(struct loader *l, const char *path, size_t keyline,
    const yaml_event_t *ev, int depth)
{
	const struct cfg_key *k;

	if (is_start(ev) && depth > MAX_DEPTH)
		return too_deep(l, ev);
	if (ev->type == YAML_ALIAS_EVENT)
		return err_at(l, line_of(ev), "%s: YAML aliases are not "
		    "supported", path);
	if (cfg_unsupported(path)) {
		log_warnx("config: %s:%zu: %s is not supported yet and is "
		    "ignored", l->name, keyline, path);
		return skip(l, ev, depth);
	}
	if ((k = cfg_lookup(path)) != NULL) {
		if (ev->type == YAML_SCALAR_EVENT && is_null(ev))
			return 0;
		if (k->type == CT_LIST) {
			if (ev->type != YAML_SEQUENCE_START_EVENT)
				return err_at(l, line_of(ev), "%s: invalid "
				    "value: %s", path, want_text(k->type));
			return load_list(l, k, path);
		}
		if (ev->type != YAML_SCALAR_EVENT)
			return err_at(l, line_of(ev), "%s: invalid value: %s, "
			    "not a %s", path, want_text(k->type),
			    ev->type == YAML_MAPPING_START_EVENT ? "mapping" :
			    "list");
		return load_scalar(l, k, path, ev);
	}
	if (cfg_is_section(path)) {
		if (ev->type == YAML_MAPPING_START_EVENT)
			return load_map(l, path, depth);
		if (ev->type == YAML_SCALAR_EVENT && is_null(ev))
			return 0;
		return err_at(l, line_of(ev), "%s: invalid value: want a "
		    "mapping", path);
	}
	return err_at(l, keyline, "unknown key \"%s\"", path);
}

/* The keys of a mapping whose MAPPING-START (at depth) was just read. */
static int
load_map(struct loader *l, const char *prefix, int depth)
{
	yaml_event_t k, v;
	char path[160];
	const char *key;
	size_t line;
	int rv;

	for (;;) {
		if ((rv = next(l, &k)) != 0)
			return rv;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			return 0;
		}
		line = line_of(&k);
		if (k.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&k);
			return err_at(l, line, "keys must be strings");
		}
		key = (const char *)k.data.scalar.value;
		/* "ports.http" is a path, never a key of its own. */
		if (strchr(key, '.') != NULL ||
		    strlen(key) != k.data.scalar.length ||
		    (size_t)snprintf(path, sizeof(path), "%s%s%s",
		    prefix ? prefix : "", prefix ? "." : "", key) >=
		    sizeof(path)) {
			rv = err_at(l, line, "unknown key \"%s%s%.60s\"",
			    prefix ? prefix : "", prefix ? "." : "", key);
			yaml_event_delete(&k);
			return rv;
		}
		yaml_event_delete(&k);
		if ((rv = next(l, &v)) != 0)
			return rv;
		rv = load_entry(l, path, line, &v, depth + 1);
		yaml_event_delete(&v);
		if (rv != 0)
			return rv;
	}
}

/* STREAM-START, at most one document whose root is a mapping (or
 * empty), STREAM-END. */
static int
load_stream(struct loader *l)
{
	yaml_event_t ev;
	int rv, docs = 0;

	for (;;) {
		if ((rv = next(l, &ev)) != 0)
			return rv;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rv = err_at(l, line_of(&ev), "only one YAML "
				    "document is allowed");
			break;
		case YAML_MAPPING_START_EVENT:
			rv = load_map(l, NULL, 1);
			break;
		case YAML_SCALAR_EVENT:
			if (!is_null(&ev))
				rv = err_at(l, line_of(&ev), "the top level "
				    "must be a mapping of keys");
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_ALIAS_EVENT:
			rv = err_at(l, line_of(&ev), "the top level must be "
			    "a mapping of keys");
			break;
		default:	/* STREAM-START, DOCUMENT-END */
			break;
		}
		yaml_event_delete(&ev);
		if (rv != 0)
			return rv;
	}
}

/* libyaml refuses a TAB where YAML expects indentation, which JSON
 * written for Consul often has; outside string literals a TAB is only
 * white space, so it becomes a space. */
static void
json_untab(char *s, size_t n)
{
	bool in_string = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = false;
		} else if (s[i] == '"')
			in_string = true;
		else if (s[i] == '\t')
			s[i] = ' ';
	}
}

static int
load_text(struct lictor_config *c, const char *name, const char *text,
    size_t len, bool *set, struct lerr *e)
{
	struct loader l = { .c = c, .name = name, .set = set, .e = e };
	char *buf;
	int rv;

	if (has_suffix(name, ".hcl"))
		return lerr_set(e, LE_UNSUPPORTED, "config: %s: HCL is not "
		    "supported; use YAML or JSON", name);
	if (len > MAX_FILE)
		return lerr_set(e, LE_TOOBIG, "config: %s: larger than 4 MiB",
		    name);
	if ((buf = malloc(len + 1)) == NULL)
		return lerr_set(e, LE_NOMEM, "config: %s: out of memory",
		    name);
	if (len > 0)
		memcpy(buf, text, len);
	buf[len] = '\0';
	if (has_suffix(name, ".json") || strcmp(name, ENV_NAME) == 0)
		json_untab(buf, len);
	if (!yaml_parser_initialize(&l.p)) {
		free(buf);
		return lerr_set(e, LE_NOMEM, "config: %s: out of memory",
		    name);
	}
	yaml_parser_set_input_string(&l.p, (const unsigned char *)buf, len);
	rv = load_stream(&l);
	yaml_parser_delete(&l.p);
	free(buf);
	return rv;
}

static int
load_file(struct lictor_config *c, const char *path, bool *set,
    struct lerr *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rv;

	if (has_suffix(path, ".hcl"))
		return load_text(c, path, "", 0, set, e);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return lerr_set(e, LE_IO, "config: cannot read %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0) {
		rv = errno;
		close(fd);
		return lerr_set(e, LE_IO, "config: cannot read %s: %s", path,
		    strerror(rv));
	}
	/* Pipes are fine ("-config-file <(...)"); the size cap holds. */
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return lerr_set(e, LE_IO, "config: cannot read %s: is a "
		    "directory", path);
	}
	/* One byte past the limit tells a too large file apart. */
	if ((buf = malloc(MAX_FILE + 1)) == NULL) {
		close(fd);
		return lerr_set(e, LE_NOMEM, "config: %s: out of memory",
		    path);
	}
	while (len < MAX_FILE + 1 &&
	    (n = read(fd, buf + len, MAX_FILE + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = lerr_set(e, LE_IO, "config: cannot read %s: %s",
			    path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	rv = load_text(c, path, buf, len, set, e);
out:
	close(fd);
	free(buf);
	return rv;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
load_dir(struct lictor_config *c, const char *dir, bool *set,
    struct lerr *e)
{
	struct strlist names = { NULL, 0 };
	struct dirent *d;
	struct stat st;
	char path[4096];
	size_t i;
	DIR *dp;
	int rv = 0;

	if ((dp = opendir(dir)) == NULL)
		return lerr_set(e, LE_IO, "config: cannot read directory %s: "
		    "%s", dir, strerror(errno));
	while ((d = readdir(dp)) != NULL) {
		if (!has_suffix(d->d_name, ".json") &&
		    !has_suffix(d->d_name, ".yaml") &&
		    !has_suffix(d->d_name, ".yml") &&
		    !has_suffix(d->d_name, ".hcl"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		/* Consul skips directories, whatever their names. */
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			continue;
		strlist_push(&names, d->d_name);
	}
	closedir(dp);
	if (names.n > 0)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	for (i = 0; i < names.n && rv == 0; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    names.v[i]) >= sizeof(path))
			rv = lerr_set(e, LE_IO, "config: %s/%s: path too "
			    "long", dir, names.v[i]);
		else
			rv = load_file(c, path, set, e);
	}
	strlist_free(&names);
	return rv;
}

int
config_load_string(struct lictor_config *c, const char *name,
    const char *text, size_t len, struct lerr *e)
{
	return load_text(c, name, text, len, NULL, e);
}

int
config_load_file(struct lictor_config *c, const char *path, struct lerr *e)
{
	return load_file(c, path, NULL, e);
}

int
config_load_dir(struct lictor_config *c, const char *dir, struct lerr *e)
{
	return load_dir(c, dir, NULL, e);
}

/* ---- flags ------------------------------------------------------------ */

/* Flag values land in a scratch config (fl) first: flags are parsed
 * before anything is loaded, so a typo fails fast, and applied after the
 * files, so they win. Durations parse as nanoseconds into ns[]. */
struct flagset {
	struct flag_def defs[64];
	const struct cfg_key *keys[64];
	struct lictor_config fl;
	int64_t ns[64];
	bool seen[64];
	size_t n;
};

static void
flagset_init(struct flagset *fs)
{
	static const enum flag_type ftype[] = { FLAG_BOOL, FLAG_INT,
		FLAG_STRING, FLAG_STRLIST, FLAG_DURATION };
	const struct cfg_key *k;
	size_t i;

	memset(fs, 0, sizeof(*fs));
	for (i = 0; i < cfg_nschema; i++) {
		k = &cfg_schema[i];
		if (k->flag == NULL)
			continue;
		if (fs->n + 1 >= sizeof(fs->defs) / sizeof(fs->defs[0]))
			abort();	/* the table outgrew this array */
		fs->keys[fs->n] = k;
		fs->defs[fs->n] = (struct flag_def){ k->flag, ftype[k->type],
		    k->type == CT_DURATION ? (void *)&fs->ns[fs->n] :
		    cfg_field(&fs->fl, k), k->usage, &fs->seen[fs->n] };
		fs->n++;
	}
}

/* Loads -config-file and -config-dir in the order they were given: the
 * flag package keeps two lists, so argv[0..rest) is walked again with
 * the flag syntax flags_parse has already accepted. */
static int
load_sources(struct lictor_config *c, const struct flagset *fs, int rest,
    char **argv, bool *set, struct lerr *e)
{
	const struct flag_def *d;
	const char *name, *eq, *value;
	size_t nlen, j;
	int i, rv;

	for (i = 0; i < rest; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		name = argv[i] + 1 + (argv[i][1] == '-');
		nlen = (eq = strchr(name, '=')) ? (size_t)(eq - name) :
		    strlen(name);
		for (j = 0, d = NULL; j < fs->n && d == NULL; j++)
			if (strlen(fs->defs[j].name) == nlen &&
			    memcmp(fs->defs[j].name, name, nlen) == 0)
				d = &fs->defs[j];
		if (d == NULL)
			continue;
		if (eq != NULL)
			value = eq + 1;
		else if (d->type != FLAG_BOOL && i + 1 < rest)
			value = argv[++i];
		else
			continue;
		rv = 0;
		if (strcmp(d->name, "config-file") == 0)
			rv = load_file(c, value, set, e);
		else if (strcmp(d->name, "config-dir") == 0)
			rv = load_dir(c, value, set, e);
		if (rv != 0)
			return rv;
	}
	return 0;
}

static int
apply_flags(struct lictor_config *c, struct flagset *fs, bool *set,
    struct lerr *e)
{
	const struct cfg_key *k;
	struct strlist *l;
	struct lerr r = { "" };
	char val[200];
	int64_t v;
	size_t i, j;
	int rv = 0;

	for (i = 0; i < fs->n; i++) {
		if (!fs->seen[i])
			continue;
		k = fs->keys[i];
		switch (k->type) {
		case CT_BOOL:
			v = *(bool *)cfg_field(&fs->fl, k);
			rv = cfg_store_int(c, k, v, &r);
			snprintf(val, sizeof(val), "%s", v ? "true" : "false");
			break;
		case CT_INT:
			v = *(int64_t *)cfg_field(&fs->fl, k);
			rv = cfg_store_int(c, k, v, &r);
			snprintf(val, sizeof(val), "%lld", (long long)v);
			break;
		case CT_DURATION:
			go_duration_format(fs->ns[i], val, sizeof(val));
			rv = cfg_store_int(c, k, fs->ns[i] / 1000000, &r);
			break;
		case CT_STRING:
			snprintf(val, sizeof(val), "%s",
			    *(char **)cfg_field(&fs->fl, k));
			rv = cfg_store_string(c, k,
			    *(char **)cfg_field(&fs->fl, k), &r);
			break;
		case CT_LIST:
			l = cfg_field(&fs->fl, k);
			for (j = 0; j < l->n && rv == 0; j++) {
				snprintf(val, sizeof(val), "%s", l->v[j]);
				rv = cfg_store_item(c, k, l->v[j], &r);
			}
			break;
		}
		if (rv != 0)
			return lerr_set(e, LE_CONFIG, "config: flag -%s: "
			    "invalid value \"%.100s\": %s", k->flag, val,
			    r.msg);
		set[k - cfg_schema] = true;
	}
	return 0;
}

/* Whether any source gave the field at off (ui has two keys). */
static bool
given(const bool *set, size_t off)
{
	size_t i;

	for (i = 0; i < cfg_nschema; i++)
		if (cfg_schema[i].off == off && set[i])
			return true;
	return false;
}

/* Consul's dev mode: defaults that any source may still override. The
 * data dir stays NULL; init makes a throwaway one. */
static void
dev_adjust(struct lictor_config *c, const bool *set)
{
	if (!c->dev)
		return;
	if (!given(set, offsetof(struct lictor_config, server)))
		c->server = true;
	if (!given(set, offsetof(struct lictor_config, bootstrap)))
		c->bootstrap = true;
	if (!given(set, offsetof(struct lictor_config, ui)))
		c->ui = true;
	if (!given(set, offsetof(struct lictor_config, bind_addr))) {
		free(c->bind_addr);
		if ((c->bind_addr = strdup("127.0.0.1")) == NULL)
			abort();
	}
}

/* Consul's mode-dependent leave defaults: a client leaves on SIGTERM and
 * on SIGINT; a server does neither (its departure would shrink the Raft
 * quorum's count of voters only through an explicit leave). */
static void
leave_adjust(struct lictor_config *c, const bool *set)
{
	if (!given(set, offsetof(struct lictor_config, leave_on_terminate)))
		c->leave_on_terminate = !c->server;
	if (!given(set, offsetof(struct lictor_config,
	    skip_leave_on_interrupt)))
		c->skip_leave_on_interrupt = c->server;
}

int
config_from_args(struct lictor_config *c, int argc, char **argv,
    struct lerr *e)
{
	struct flagset *fs;
	const char *env;
	bool *set;
	int rest, rv;

	if ((fs = malloc(sizeof(*fs))) == NULL ||
	    (set = calloc(cfg_nschema, sizeof(*set))) == NULL) {
		free(fs);
		return lerr_set(e, LE_NOMEM, "out of memory");
	}
	flagset_init(fs);
	if ((rv = flags_parse(fs->defs, argc, argv, &rest, e)) != 0)
		goto out;
	if (rest < argc) {
		rv = lerr_set(e, LE_INVAL, "unexpected argument \"%s\": "
		    "lictor agent takes only flags", argv[rest]);
		goto out;
	}
	config_free(c);
	config_defaults(c);
	if ((rv = load_sources(c, fs, rest, argv, set, e)) != 0)
		goto out;
	if ((env = getenv(ENV_NAME)) != NULL && *env != '\0' &&
	    (rv = load_text(c, ENV_NAME, env, strlen(env), set, e)) != 0)
		goto out;
	if ((rv = apply_flags(c, fs, set, e)) != 0)
		goto out;
	dev_adjust(c, set);
	leave_adjust(c, set);
	if (c->bootstrap_expect == 1) {
		log_warnx("BootstrapExpect is set to 1; this is the same as "
		    "Bootstrap mode.");
		c->bootstrap = true;
		c->bootstrap_expect = 0;
	}
	rv = config_validate(c, e);
out:
	config_free(&fs->fl);
	free(fs);
	free(set);
	return rv;
}

int
config_validate(struct lictor_config *c, struct lerr *e)
{
	const struct cfg_key *k;
	struct lerr r = { "" };
	char val[200];
	size_t i;

	for (i = 0; i < cfg_nschema; i++) {
		k = &cfg_schema[i];
		if (k->key == NULL || (k->flags & CK_ALIAS))
			continue;
		if (k->type == CT_STRING && k->def_str != NULL &&
		    *(char **)cfg_field(c, k) == NULL)
			return lerr_set(e, LE_CONFIG, "%s cannot be empty",
			    k->key);
		cfg_format(c, k, val, sizeof(val));
		if (cfg_check_field(c, k, &r) != 0)
			return lerr_set(e, LE_CONFIG, "%s: invalid value "
			    "\"%.100s\": %s", k->key, val, r.msg);
	}
	/* Consul's own texts, in Consul's order. */
	if (!c->dev && (c->data_dir == NULL || *c->data_dir == '\0'))
		return lerr_set(e, LE_CONFIG, "data_dir cannot be empty");
	if (c->bootstrap && !c->server)
		return lerr_set(e, LE_CONFIG,
		    "Bootstrap mode requires Server mode");
	if (c->bootstrap_expect > 0 && !c->server)
		return lerr_set(e, LE_CONFIG,
		    "BootstrapExpect mode requires Server mode");
	if (c->bootstrap_expect > 0 && c->dev)
		return lerr_set(e, LE_CONFIG,
		    "BootstrapExpect mode cannot be enabled in dev mode");
	if (c->bootstrap_expect > 0 && c->bootstrap)
		return lerr_set(e, LE_CONFIG, "BootstrapExpect mode and "
		    "Bootstrap mode are mutually exclusive");
	if (c->node_name == NULL || *c->node_name == '\0')
		return lerr_set(e, LE_CONFIG, "Node name cannot be empty");
	return 0;
}

void
config_agent_usage(FILE *f)
{
	struct flagset *fs;

	if ((fs = malloc(sizeof(*fs))) == NULL)
		abort();
	flagset_init(fs);
	fprintf(f, "Usage: lictor agent [options]\n\n"
	    "  Starts the lictor agent and runs until an interrupt is "
	    "received. The\n  agent represents a single node in a cluster."
	    "\n\nOptions:\n\n");
	flags_usage(fs->defs, f);
	free(fs);
}
