/* kv_get.c: `lictor kv get [options] [KEY_OR_PREFIX]`, after Consul's
 * command/kv/get: one value, a prefix (-recurse: "key:value" lines),
 * key names (-keys, rolled up at -separator), or the -detailed table,
 * which Consul lays out with Go's text/tabwriter; a faithful port of
 * that writer lives here so odd values (tabs, newlines) align as they
 * do under Consul. */
#include "kv.h"
#include "base64.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static const char get_help[] =
"Usage: lictor kv get [options] [KEY_OR_PREFIX]\n"
"\n"
"  Retrieves the value from lictor's key-value store at the given key name. If no\n"
"  key exists with that name, an error is returned. If a key exists with that\n"
"  name but has no data, nothing is returned. If the name or prefix is omitted,\n"
"  it defaults to \"\" which is the root of the key-value store.\n"
"\n"
"  To retrieve the value for the key named \"foo\" in the key-value store:\n"
"\n"
"      $ lictor kv get foo\n"
"\n"
"  This will return the original, raw value stored in lictor. To view detailed\n"
"  information about the key, specify the \"-detailed\" flag. This will output all\n"
"  known metadata about the key including ModifyIndex and any user-supplied\n"
"  flags:\n"
"\n"
"      $ lictor kv get -detailed foo\n"
"\n"
"  To treat the path as a prefix and list all keys which start with the given\n"
"  prefix, specify the \"-recurse\" flag:\n"
"\n"
"      $ lictor kv get -recurse foo\n"
"\n"
"  This will return all key-value pairs. To just list the keys which start with\n"
"  the specified prefix, use the \"-keys\" option instead:\n"
"\n"
"      $ lictor kv get -keys foo\n"
"\n"
"  For a full list of options and examples, please see the documentation.\n";

/* ---- Go's text/tabwriter, flags 0 ----------------------------------- */

/*
 * Cells are tab-terminated; the last cell of a line is not part of any
 * column. A column block is a run of consecutive lines that all have a
 * cell in that column; its width is the widest cell plus padding. '\v'
 * ends a cell like '\t' but softly, '\f' ends a line and flushes, and
 * text between 0xff bytes is one opaque run. Widths count runes.
 */
struct tw_cell {
	size_t size;	/* bytes */
	size_t width;	/* runes */
	bool htab;
};

struct tw_line {
	struct tw_cell *c;
	size_t n, cap;
};

struct tabwriter {
	FILE *out;
	size_t minwidth, padding;
	struct sbuf buf;	/* text of all cells */
	size_t pos;		/* start of unmeasured text in buf */
	struct tw_cell cell;	/* the cell being filled */
	bool in_escape;
	struct tw_line *lines;
	size_t nlines, caplines;
	size_t *widths;
	size_t nwidths, capwidths;
};

static void
tw_add_line(struct tabwriter *tw)
{
	if (tw->nlines == tw->caplines) {
		tw->caplines = tw->caplines ? tw->caplines * 2 : 8;
		tw->lines = realloc(tw->lines,
		    tw->caplines * sizeof(*tw->lines));
		if (tw->lines == NULL)
			fatalx("out of memory");
	}
	memset(&tw->lines[tw->nlines++], 0, sizeof(struct tw_line));
}

static void
tw_reset(struct tabwriter *tw)
{
	for (size_t i = 0; i < tw->nlines; i++)
		free(tw->lines[i].c);
	tw->nlines = 0;
	sbuf_reset(&tw->buf);
	tw->pos = 0;
	memset(&tw->cell, 0, sizeof(tw->cell));
	tw->in_escape = false;
	tw->nwidths = 0;
	tw_add_line(tw);
}

static void
tw_init(struct tabwriter *tw, FILE *out, size_t minwidth, size_t padding)
{
	memset(tw, 0, sizeof(*tw));
	tw->out = out;
	tw->minwidth = minwidth;
	tw->padding = padding;
	sbuf_init(&tw->buf);
	tw_reset(tw);
}

static void
tw_free(struct tabwriter *tw)
{
	for (size_t i = 0; i < tw->nlines; i++)
		free(tw->lines[i].c);
	free(tw->lines);
	free(tw->widths);
	sbuf_free(&tw->buf);
}

static void
tw_append(struct tabwriter *tw, const char *p, size_t n)
{
	sbuf_add(&tw->buf, p, n);
	tw->cell.size += n;
}

static void
tw_update_width(struct tabwriter *tw)
{
	tw->cell.width += cli_rune_count(tw->buf.s + tw->pos,
	    tw->buf.len - tw->pos);
	tw->pos = tw->buf.len;
}

static size_t
tw_terminate_cell(struct tabwriter *tw, bool htab)
{
	struct tw_line *l = &tw->lines[tw->nlines - 1];

	tw->cell.htab = htab;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		if ((l->c = realloc(l->c, l->cap * sizeof(*l->c))) == NULL)
			fatalx("out of memory");
	}
	l->c[l->n++] = tw->cell;
	memset(&tw->cell, 0, sizeof(tw->cell));
	return l->n;
}

static void
tw_end_escape(struct tabwriter *tw)
{
	tw_update_width(tw);
	tw->cell.width -= 2;	/* the 0xff bytes take no room */
	tw->pos = tw->buf.len;
	tw->in_escape = false;
}

static void
tw_pad(struct tabwriter *tw, size_t textw, size_t cellw)
{
	for (size_t i = textw; i < cellw; i++)
		fputc(' ', tw->out);
}

static size_t
tw_write_lines(struct tabwriter *tw, size_t pos, size_t line0, size_t line1)
{
	for (size_t i = line0; i < line1; i++) {
		struct tw_line *l = &tw->lines[i];

		for (size_t j = 0; j < l->n; j++) {
			struct tw_cell *c = &l->c[j];

			if (c->size > 0) {
				fwrite(tw->buf.s + pos, 1, c->size, tw->out);
				pos += c->size;
			}
			if (j < tw->nwidths)
				tw_pad(tw, c->width, tw->widths[j]);
		}
		if (i + 1 == tw->nlines) {
			/* The last buffered line has no newline yet. */
			fwrite(tw->buf.s + pos, 1, tw->cell.size, tw->out);
			pos += tw->cell.size;
		} else
			fputc('\n', tw->out);
	}
	return pos;
}

static size_t
tw_format(struct tabwriter *tw, size_t pos, size_t line0, size_t line1)
{
	size_t column = tw->nwidths;

	for (size_t this = line0; this < line1; this++) {
		size_t width;

		if (column + 1 >= tw->lines[this].n)
			continue;
		/* A cell in this column: this line starts a block. */
		pos = tw_write_lines(tw, pos, line0, this);
		line0 = this;
		width = tw->minwidth;
		for (; this < line1; this++) {
			struct tw_line *l = &tw->lines[this];

			if (column + 1 >= l->n)
				break;
			if (l->c[column].width + tw->padding > width)
				width = l->c[column].width + tw->padding;
		}
		if (tw->nwidths == tw->capwidths) {
			tw->capwidths = tw->capwidths ? tw->capwidths * 2 : 8;
			tw->widths = realloc(tw->widths,
			    tw->capwidths * sizeof(*tw->widths));
			if (tw->widths == NULL)
				fatalx("out of memory");
		}
		tw->widths[tw->nwidths++] = width;
		pos = tw_format(tw, pos, line0, this);
		tw->nwidths--;
		/* Go's loop then steps past the line that ended the
		 * block; it has no cell in this column anyway. */
		line0 = this;
	}
	return tw_write_lines(tw, pos, line0, line1);
}

static void
tw_flush(struct tabwriter *tw)
{
	if (tw->cell.size > 0) {
		if (tw->in_escape)
			tw_end_escape(tw);
		tw_terminate_cell(tw, false);
	}
	tw_format(tw, 0, 0, tw->nlines);
	tw_reset(tw);
}

static void
tw_write(struct tabwriter *tw, const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (tw->in_escape) {
			if (ch == 0xff) {
				tw_append(tw, p + n, i + 1 - n);
				n = i + 1;
				tw_end_escape(tw);
			}
			continue;
		}
		if (ch == '\t' || ch == '\v' || ch == '\n' || ch == '\f') {
			size_t ncells;

			tw_append(tw, p + n, i - n);
			tw_update_width(tw);
			n = i + 1;
			ncells = tw_terminate_cell(tw, ch == '\t');
			if (ch == '\n' || ch == '\f') {
				tw_add_line(tw);
				if (ch == '\f' || ncells == 1)
					tw_flush(tw);
			}
		} else if (ch == 0xff) {
			tw_append(tw, p + n, i - n);
			tw_update_width(tw);
			n = i;
			tw->in_escape = true;
		}
	}
	tw_append(tw, p + n, len - n);
}

static void
tw_puts(struct tabwriter *tw, const char *s)
{
	tw_write(tw, s, strlen(s));
}

/* ---- output -------------------------------------------------------- */

/* Consul's prettyKVPair: tabwriter(minwidth 0, tabwidth 2, padding 6,
 * ' '), no newline after the value; Ui.Info adds one. */
static void
print_detailed(const struct kv_pair *p, bool b64, bool keys_only)
{
	struct tabwriter tw;
	char num[64];

	tw_init(&tw, stdout, 0, 6);
	snprintf(num, sizeof(num), "CreateIndex\t%llu\n",
	    (unsigned long long)p->create_index);
	tw_puts(&tw, num);
	snprintf(num, sizeof(num), "Flags\t%llu\n",
	    (unsigned long long)p->flags);
	tw_puts(&tw, num);
	tw_puts(&tw, "Key\t");
	tw_write(&tw, p->key, p->key_len);
	tw_puts(&tw, "\n");
	snprintf(num, sizeof(num), "LockIndex\t%llu\n",
	    (unsigned long long)p->lock_index);
	tw_puts(&tw, num);
	snprintf(num, sizeof(num), "ModifyIndex\t%llu\n",
	    (unsigned long long)p->modify_index);
	tw_puts(&tw, num);
	if (p->session[0] == '\0')
		tw_puts(&tw, "Session\t-\n");
	else {
		tw_puts(&tw, "Session\t");
		tw_puts(&tw, p->session);
		tw_puts(&tw, "\n");
	}
	if (!keys_only) {
		tw_puts(&tw, "Value\t");
		if (b64) {
			char *e = xmalloc(b64_encoded_len(p->value_len) + 1);

			tw_write(&tw, e, b64_encode(p->value, p->value_len, e));
			free(e);
		} else
			tw_write(&tw, (const char *)p->value, p->value_len);
	}
	tw_flush(&tw);
	tw_free(&tw);
	fputc('\n', stdout);
}

static void
print_value(const struct kv_pair *p, bool b64, bool with_key)
{
	if (with_key) {
		fwrite(p->key, 1, p->key_len, stdout);
		fputc(':', stdout);
	}
	if (b64) {
		char *e = xmalloc(b64_encoded_len(p->value_len) + 1);

		kv_out(e, b64_encode(p->value, p->value_len, e));
		free(e);
	} else
		kv_out(p->value, p->value_len);
}

/* -keys without -recurse: the server lists (and rolls up) names. */
static int
get_keys(struct kv_cmd *c, const char *key, const char *sep)
{
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct sbuf err, what;
	bool found = false;
	json_t *j = NULL, *v;
	size_t i;
	int rv = 1;

	sbuf_init(&err);
	sbuf_init(&what);
	cli_params_set(&q, "keys", "");
	if (sep[0] != '\0')
		cli_params_set(&q, "separator", sep);
	if (kv_query(c, key, &q, &r, &found) != 0)
		goto out;
	if (!found) {
		rv = 0;
		goto out;
	}
	if ((j = kv_json_load(r.body, r.len, &err)) == NULL)
		goto bad;
	if (json_is_null(j)) {
		rv = 0;
		goto out;
	}
	if (!json_is_array(j)) {
		kv_json_what(j, &what);
		sbuf_printf(&err, "json: cannot unmarshal %s into Go value of "
		    "type []string", what.s);
		goto bad;
	}
	json_array_foreach(j, i, v) {
		if (!json_is_string(v) && !json_is_null(v)) {
			kv_json_what(v, &what);
			sbuf_printf(&err, "json: cannot unmarshal %s into Go "
			    "value of type string", what.s);
			goto bad;
		}
	}
	json_array_foreach(j, i, v)
		kv_out(json_is_string(v) ? json_string_value(v) : "",
		    json_is_string(v) ? json_string_length(v) : 0);
	rv = 0;
	goto out;
bad:
	cli_error("Error querying Consul agent: %s", err.s);
out:
	if (j != NULL)
		json_decref(j);
	sbuf_free(&what);
	sbuf_free(&err);
	cli_resp_free(&r);
	cli_params_free(&q);
	return rv;
}

int
kv_get_main(int argc, char **argv)
{
	struct kv_cmd c = { .help = get_help };
	bool b64 = false, detailed = false, keys = false, recurse = false;
	char *separator = xstrdup("/");
	const char *key = "";
	struct kv_pair *pairs = NULL;
	size_t n = 0;
	int code = 1;
	struct flag_def defs[] = {
		{ "base64", FLAG_BOOL, &b64,
		  "Base64 encode the value. The default value is false." },
		{ "detailed", FLAG_BOOL, &detailed,
		  "Provide additional metadata about the key in addition to the "
		  "value such as the ModifyIndex and any flags that may have "
		  "been set on the key. The default value is false." },
		{ "keys", FLAG_BOOL, &keys,
		  "List keys which start with the given prefix, but not their "
		  "values. This is especially useful if you only need the key "
		  "names themselves. This option is commonly combined with the "
		  "-separator option. The default value is false." },
		{ "recurse", FLAG_BOOL, &recurse,
		  "Recursively look at all keys prefixed with the given path. "
		  "The default value is false." },
		{ "separator", FLAG_STRING, &separator,
		  "String to use as a separator between keys. The default value "
		  "is \"/\", but this option is only taken into account when "
		  "paired with the -keys flag." },
		{ NULL },
	};

	if (kv_cmd_start(&c, defs, argc, argv, &code) != 0)
		goto out;
	code = 1;
	if (c.argc > 1) {
		cli_error("Too many arguments (expected 1, got %d)", c.argc);
		goto out;
	}
	if (c.argc == 1)
		key = c.argv[0];
	/* Keys never start with '/'; Consul forgives one. */
	if (key[0] == '/')
		key++;
	if (key[0] == '\0' && !(recurse || keys)) {
		cli_error("Error! Missing KEY argument");
		goto out;
	}
	if (kv_cmd_client(&c) != 0)
		goto out;

	if (keys && !recurse) {
		code = get_keys(&c, key, separator != NULL ? separator : "");
		goto out;
	}
	if (kv_list(&c, key, keys || recurse, &pairs, &n) != 0)
		goto out;
	if (keys || recurse) {
		for (size_t i = 0; i < n; i++) {
			if (detailed) {
				print_detailed(&pairs[i], b64 && !keys, keys);
				if (i + 1 < n)
					kv_out("", 0);
			} else if (keys)
				kv_out(pairs[i].key, pairs[i].key_len);
			else
				print_value(&pairs[i], b64, true);
		}
		code = 0;
		goto out;
	}
	if (n == 0) {
		cli_error("Error! No key exists at: %s", key);
		goto out;
	}
	if (detailed)
		print_detailed(&pairs[0], b64, false);
	else
		print_value(&pairs[0], b64, false);
	code = 0;
out:
	kv_pairs_free(pairs, n);
	free(separator);
	kv_cmd_end(&c);
	return code;
}
