/* config_schema.h: private to config.c and config_schema.c. The one
 * table that describes every configuration key (after Redis's
 * standardConfig): its dotted path in files, type, default, bounds, the
 * field it fills, its `lictor agent` flag and its checker. Nothing outside
 * these two files includes this header; config.h is the public contract. */
#ifndef LICTOR_CONFIG_SCHEMA_H
#define LICTOR_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum cfg_type {
	CT_BOOL,	/* bool */
	CT_INT,		/* int64_t */
	CT_STRING,	/* char *, malloc'd, NULL = unset */
	CT_LIST,	/* struct strlist; every source appends, as Consul */
	CT_DURATION,	/* int64_t milliseconds; Go duration text outside */
};

/* Flags of an entry. */
#define CK_ALIAS	0x1	/* another key fills this field: not written */
#define CK_RELOAD	0x2	/* may change without a restart (later) */

struct cfg_key {
	const char *key;	/* dotted path in files; NULL: a flag only */
	enum cfg_type type;
	size_t off;		/* offsetof(struct lictor_config, field) */
	const char *def_str;	/* CT_STRING default */
	int64_t def_int;	/* CT_BOOL, CT_INT, CT_DURATION (ms) default */
	int64_t min, max;	/* CT_INT, CT_DURATION (ms) bounds */
	const char *flag;	/* `lictor agent` flag without the dash */
	const char *usage;	/* flag help text */
	/* Checks (and may normalise, e.g. lowercase) a CT_STRING value just
	 * stored; on failure writes the reason alone to e->msg. */
	int (*check)(char **v, struct lerr *e);
	unsigned flags;
};

extern const struct cfg_key cfg_schema[];
extern const size_t cfg_nschema;

/* The entry for a dotted path, or NULL. */
const struct cfg_key *cfg_lookup(const char *path);
/* A path that holds a mapping of keys in files ("ports", "limits"). */
bool cfg_is_section(const char *path);
/* A Consul key lictor accepts, warns about and skips. */
bool cfg_unsupported(const char *path);
/* The field of c that k describes. */
void *cfg_field(const struct lictor_config *c, const struct cfg_key *k);

/* Stores an int, bool or duration (ms) value after checking the bounds;
 * on failure e->msg holds the reason and the field is unchanged. */
int cfg_store_int(struct lictor_config *c, const struct cfg_key *k,
    int64_t v, struct lerr *e);
/* Stores a copy of a string and runs k->check on it; on failure the
 * field is left unchanged. */
int cfg_store_string(struct lictor_config *c, const struct cfg_key *k,
    const char *v, struct lerr *e);
/* Appends a copy of v to a CT_LIST field (UTF-8 checked). */
int cfg_store_item(struct lictor_config *c, const struct cfg_key *k,
    const char *v, struct lerr *e);
/* Checks a stored value again (bounds, k->check, UTF-8), for
 * config_validate; the reason goes to e->msg. */
int cfg_check_field(struct lictor_config *c, const struct cfg_key *k,
    struct lerr *e);
/* The value as text: strings raw, bools true/false, lists joined with
 * ",", durations in Go form. -LE_TOOBIG if truncated. */
int cfg_format(const struct lictor_config *c, const struct cfg_key *k,
    char *buf, size_t len);
/* "must be between -1 and 65535" for k's bounds. */
void cfg_range_text(const struct cfg_key *k, char *buf, size_t len);

#endif
