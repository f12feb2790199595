/* cli_operator_test.c: the pure half of cli/operator.c: the list-peers
 * table as Consul prints it (ryanuber/columnize, the "Commit Index" and
 * "Trails Leader By" columns from each server's LastIndex), the
 * decoding of /v1/operator/raft/configuration and transfer-leader
 * answers with Go's error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* From cli/operator.c (not in a header: the CLI's headers carry entry
 * points only). */
int op_peers_render(const char *body, size_t len, struct sbuf *out,
    struct sbuf *err);
int op_transfer_decode(const char *body, size_t len, bool *success,
    struct sbuf *err);
void op_columnize(const struct sbuf *lines, size_t n, struct sbuf *out);

static void
check_table(const char *json, const char *want)
{
	struct sbuf out, err;

	sbuf_init(&out);
	sbuf_init(&err);
	assert_int_equal(op_peers_render(json, strlen(json), &out, &err), 0);
	assert_string_equal(err.s != NULL ? err.s : "", "");
	assert_string_equal(out.s, want);
	sbuf_free(&out);
	sbuf_free(&err);
}

static void
check_error(const char *json, const char *want)
{
	struct sbuf out, err;

	sbuf_init(&out);
	sbuf_init(&err);
	assert_int_equal(op_peers_render(json, strlen(json), &out, &err), -1);
	assert_string_equal(err.s, want);
	sbuf_free(&out);
	sbuf_free(&err);
}

/* Consul 1.22's output for a healthy three-server cluster. */
static void
test_table_consul(void **state)
{
	(void)state;
	check_table("{\"Servers\":["
	    "{\"ID\":\"8eb7b3b5-1574-156e-3696-8a93822473d3\","
	    "\"Node\":\"lab09-consul-srv1\",\"Address\":\"10.10.20.91:8300\","
	    "\"Leader\":true,\"ProtocolVersion\":\"3\",\"Voter\":true,"
	    "\"LastIndex\":108},"
	    "{\"ID\":\"ae3a20d8-5196-003d-f192-54724f85fe2b\","
	    "\"Node\":\"lab09-consul-srv3\",\"Address\":\"10.10.20.93:8300\","
	    "\"Leader\":false,\"ProtocolVersion\":\"3\",\"Voter\":true,"
	    "\"LastIndex\":108},"
	    "{\"ID\":\"3ef46df0-53a8-d226-f026-1da7d77b9a35\","
	    "\"Node\":\"lab09-consul-srv2\",\"Address\":\"10.10.20.92:8300\","
	    "\"Leader\":false,\"ProtocolVersion\":\"3\",\"Voter\":true,"
	    "\"LastIndex\":108}],\"Index\":1}",
	    "Node               ID                                    "
	    "Address           State     Voter  RaftProtocol  Commit Index  "
	    "Trails Leader By\n"
	    "lab09-consul-srv1  8eb7b3b5-1574-156e-3696-8a93822473d3  "
	    "10.10.20.91:8300  leader    true   3             108           "
	    "-\n"
	    "lab09-consul-srv3  ae3a20d8-5196-003d-f192-54724f85fe2b  "
	    "10.10.20.93:8300  follower  true   3             108           "
	    "0 commits\n"
	    "lab09-consul-srv2  3ef46df0-53a8-d226-f026-1da7d77b9a35  "
	    "10.10.20.92:8300  follower  true   3             108           "
	    "0 commits");
}

/* "1 commit" singular, other counts plural; no protocol is "<=1"; the
 * lag is uint64 arithmetic, so a follower ahead of the leader wraps. */
static void
test_table_lag(void **state)
{
	(void)state;
	check_table("{\"Servers\":["
	    "{\"ID\":\"a\",\"Node\":\"n1\",\"Address\":\"x:1\","
	    "\"Leader\":true,\"ProtocolVersion\":\"3\",\"Voter\":true,"
	    "\"LastIndex\":10},"
	    "{\"ID\":\"b\",\"Node\":\"n2\",\"Address\":\"x:2\","
	    "\"ProtocolVersion\":\"\",\"Voter\":false,\"LastIndex\":9},"
	    "{\"ID\":\"c\",\"Node\":\"n3\",\"Address\":\"x:3\","
	    "\"Voter\":true,\"LastIndex\":2},"
	    "{\"ID\":\"d\",\"Node\":\"n4\",\"Address\":\"x:4\","
	    "\"LastIndex\":11}]}",
	    "Node  ID  Address  State     Voter  RaftProtocol  Commit Index  "
	    "Trails Leader By\n"
	    "n1    a   x:1      leader    true   3             10            "
	    "-\n"
	    "n2    b   x:2      follower  false  <=1           9             "
	    "1 commit\n"
	    "n3    c   x:3      follower  true   <=1           2             "
	    "8 commits\n"
	    "n4    d   x:4      follower  false  <=1           11            "
	    "18446744073709551615 commits");
}

/* No leader: every lag is counted from 0. */
static void
test_table_no_leader(void **state)
{
	(void)state;
	check_table("{\"Servers\":[{\"ID\":\"a\",\"Node\":\"n\","
	    "\"Address\":\"x:1\",\"ProtocolVersion\":\"3\",\"Voter\":true,"
	    "\"LastIndex\":0}]}",
	    "Node  ID  Address  State     Voter  RaftProtocol  Commit Index  "
	    "Trails Leader By\n"
	    "n     a   x:1      follower  true   3             0             "
	    "0 commits");
}

/* Nothing to list: the header alone. */
static void
test_table_empty(void **state)
{
	static const char hdr[] = "Node  ID  Address  State  Voter  "
	    "RaftProtocol  Commit Index  Trails Leader By";

	(void)state;
	check_table("null", hdr);
	check_table("{}", hdr);
	check_table("{\"Servers\":null,\"Index\":3}", hdr);
	check_table("{\"Servers\":[]}", hdr);
	check_table("{\"Servers\":[null]}", hdr);
}

/* Go matches field names regardless of case; a repeated ID takes the
 * last LastIndex, as Consul's map does. */
static void
test_table_fields(void **state)
{
	(void)state;
	check_table("{\"servers\":[{\"id\":\"a\",\"NODE\":\"n\","
	    "\"address\":\"x:1\",\"leader\":true,\"protocolversion\":\"2\","
	    "\"voter\":true,\"lastindex\":5,\"Extra\":[1]},"
	    "{\"ID\":\"a\",\"Node\":\"m\",\"Address\":\"x:2\","
	    "\"ProtocolVersion\":\"3\",\"LastIndex\":7}]}",
	    "Node  ID  Address  State     Voter  RaftProtocol  Commit Index  "
	    "Trails Leader By\n"
	    "n     a   x:1      leader    true   2             7             "
	    "-\n"
	    "m     a   x:2      follower  false  3             7             "
	    "0 commits");
}

/* Cells are trimmed of Unicode white space and measured in runes; a
 * 0x1f inside a value splits it as it does under Consul. */
static void
test_table_cells(void **state)
{
	(void)state;
	check_table("{\"Servers\":[{\"ID\":\"\\u00e9t\\u00e9\","
	    "\"Node\":\" \\u00a0n\\u0153ud\\t\",\"Address\":\"x:1\","
	    "\"Leader\":true,\"ProtocolVersion\":\"3\",\"Voter\":true,"
	    "\"LastIndex\":1}]}",
	    "Node  ID   Address  State   Voter  RaftProtocol  Commit Index  "
	    "Trails Leader By\n"
	    "n\xc5\x93ud  \xc3\xa9t\xc3\xa9  x:1      leader  true   3"
	    "             1             -");
	check_table("{\"Servers\":[{\"ID\":\"i\",\"Node\":\"a\\u001fb\","
	    "\"Address\":\"x:1\",\"Leader\":true,\"ProtocolVersion\":\"3\","
	    "\"Voter\":true,\"LastIndex\":1}]}",
	    "Node  ID  Address  State  Voter   RaftProtocol  Commit Index  "
	    "Trails Leader By\n"
	    "a     b   i        x:1    leader  true          3             "
	    "1                 -");
}

static void
test_columnize(void **state)
{
	struct sbuf l[3], out;

	(void)state;
	for (int i = 0; i < 3; i++)
		sbuf_init(&l[i]);
	sbuf_adds(&l[0], "a\x1f" "bb\x1f" "c");
	sbuf_adds(&l[1], "dddd\x1f" "e");
	sbuf_adds(&l[2], "");
	sbuf_init(&out);
	op_columnize(l, 3, &out);
	/* A short line ends at its last cell, unpadded. */
	assert_string_equal(out.s, "a     bb  c\ndddd  e\n");
	sbuf_free(&out);
	for (int i = 0; i < 3; i++)
		sbuf_free(&l[i]);
}

static void
test_decode_errors(void **state)
{
	(void)state;
	check_error("", "EOF");
	check_error(" \n", "EOF");
	check_error("{\"Servers\":[", "unexpected EOF");
	check_error("[]", "json: cannot unmarshal array into Go value of "
	    "type api.RaftConfiguration");
	check_error("\"x\"", "json: cannot unmarshal string into Go value of "
	    "type api.RaftConfiguration");
	check_error("{\"Servers\":{}}", "json: cannot unmarshal object into "
	    "Go struct field RaftConfiguration.Servers of type "
	    "[]*api.RaftServer");
	check_error("{\"Servers\":[1]}", "json: cannot unmarshal number into "
	    "Go struct field RaftConfiguration.Servers of type "
	    "api.RaftServer");
	check_error("{\"Index\":-1}", "json: cannot unmarshal number -1 into "
	    "Go struct field RaftConfiguration.Index of type uint64");
	check_error("{\"Servers\":[{\"Leader\":\"yes\"}]}", "json: cannot "
	    "unmarshal string into Go struct field RaftServer.Servers.Leader "
	    "of type bool");
	check_error("{\"Servers\":[{\"Node\":1}]}", "json: cannot unmarshal "
	    "number into Go struct field RaftServer.Servers.Node of type "
	    "string");
	check_error("{\"Servers\":[{\"LastIndex\":\"5\"}]}", "json: cannot "
	    "unmarshal string into Go struct field "
	    "RaftServer.Servers.LastIndex of type uint64");
	/* Go's Decoder stops after one value. */
	check_table("{} trailing", "Node  ID  Address  State  Voter  "
	    "RaftProtocol  Commit Index  Trails Leader By");
}

static void
test_transfer(void **state)
{
	struct sbuf err;
	bool ok;

	(void)state;
	sbuf_init(&err);
	assert_int_equal(op_transfer_decode("{\"Success\":true}", 16, &ok,
	    &err), 0);
	assert_true(ok);
	assert_int_equal(op_transfer_decode("{\"success\":false}", 17, &ok,
	    &err), 0);
	assert_false(ok);
	assert_int_equal(op_transfer_decode("null", 4, &ok, &err), 0);
	assert_false(ok);
	assert_int_equal(op_transfer_decode("", 0, &ok, &err), -1);
	assert_string_equal(err.s, "EOF");
	sbuf_reset(&err);
	assert_int_equal(op_transfer_decode("{\"Success\":1}", 13, &ok, &err),
	    -1);
	assert_string_equal(err.s, "json: cannot unmarshal number into Go "
	    "struct field TransferLeaderResponse.Success of type bool");
	sbuf_reset(&err);
	assert_int_equal(op_transfer_decode("[]", 2, &ok, &err), -1);
	assert_string_equal(err.s, "json: cannot unmarshal array into Go "
	    "value of type api.TransferLeaderResponse");
	sbuf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_consul),
		cmocka_unit_test(test_table_lag),
		cmocka_unit_test(test_table_no_leader),
		cmocka_unit_test(test_table_empty),
		cmocka_unit_test(test_table_fields),
		cmocka_unit_test(test_table_cells),
		cmocka_unit_test(test_columnize),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_transfer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
