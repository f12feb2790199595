/* go_json.h: request bodies as Go's encoding/json reads them, so that
 * httpd refuses a bad body with the text Consul's decoder gives
 * ("Request decode failed: invalid character 'x' looking for beginning
 * of value", "unexpected EOF", "json: unknown field \"Foo\"", "json:
 * cannot unmarshal number into Go struct field RegisterRequest.Node of
 * type string"). Pure functions, no I/O; unit-tested in
 * tests/unit/go_json_test.c. jansson parses what this has accepted. */
#ifndef LICTOR_GO_JSON_H
#define LICTOR_GO_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The first JSON value in buf, as json.Decoder.Decode reads it: 0 and
 * *end (the bytes of the value; what follows is not read, as Decoder
 * does not), or -1 and Go's error text in err: "EOF" for an empty body,
 * "unexpected EOF" for a value cut short, "invalid character ..." with
 * the scanner's context otherwise. */
int go_json_scan(const char *buf, size_t len, size_t *end, char *err,
    size_t errlen);

/* Go's quoteChar: how the scanner names a byte in its errors ('x', '\n',
 * '\'', '"', '\x01'). */
void go_json_quote_char(unsigned char c, char *out, size_t outlen);

/* The name Go's UnmarshalTypeError gives a JSON value: "string",
 * "number", "bool", "array", "object" ("null" never errs). */
const char *go_json_kind(const json_t *v);

/* Go's %q of a string (for "json: unknown field %q"). */
void go_json_quote(const char *s, size_t n, char *out, size_t outlen);

/* Parses buf[0..len) (already checked by go_json_scan) with jansson: the
 * value, or NULL and a reason in err. */
json_t *go_json_load(const char *buf, size_t len, char *err, size_t errlen);

#endif
