/* cli_gossip_test.c: the pure halves of the gossip commands: the
 * `lictor members` table as Consul 1.15 (OSS) prints it (Type from the
 * role tag, Build before the ':', partition "default", segment "<all>"
 * for servers and "<default>" otherwise, servers first then by name,
 * columnize's spacing, -detailed tags, -status filtering), the
 * decoding of /v1/agent/members with Go's error texts, addresses as
 * Go's net.TCPAddr prints them, event's checks in Consul's order, and
 * regexp errors in Go's words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "members.h"

/* From cli/event.c (not in a header: the CLI's headers carry entry
 * points only). */
int event_check(const char *name, const char *node, const char *service,
    const char *tag, int nargs, struct sbuf *err);
int event_id_decode(const char *body, size_t len, struct sbuf *id,
    struct sbuf *err);

/* Renders a members answer; returns the table ("" when nothing is
 * shown) and the count shown in *shown. The caller frees. */
static char *
render(const char *json, bool detailed, const char *segment,
    const char *status, size_t *shown)
{
	struct members_view v = { detailed, segment, NULL };
	struct member *m;
	struct sbuf out, err;
	regex_t re;
	size_t n;
	char *s;

	sbuf_init(&out);
	sbuf_init(&err);
	assert_int_equal(members_decode(json, strlen(json), &m, &n, &err), 0);
	if (status != NULL) {
		assert_int_equal(cli_regcomp(&re, status, &err), 0);
		v.status = &re;
	}
	*shown = members_render(m, n, &v, &out);
	if (status != NULL)
		regfree(&re);
	members_free(m, n);
	sbuf_free(&err);
	s = xstrdup(out.s != NULL ? out.s : "");
	sbuf_free(&out);
	return s;
}

static void
check(const char *json, bool detailed, const char *segment,
    const char *status, size_t want_n, const char *want)
{
	size_t n;
	char *got = render(json, detailed, segment, status, &n);

	assert_string_equal(got, want);
	assert_int_equal(n, want_n);
	free(got);
}

#define TAGS(role, extra) \
	"\"Tags\":{\"role\":\"" role "\",\"dc\":\"dc1\",\"vsn\":\"2\"," \
	"\"vsn_min\":\"2\",\"vsn_max\":\"3\",\"build\":\"1.15.2:5e08e229\"" \
	extra "}"

/* Two servers and a failed client, given out of order. */
static const char three[] = "["
    "{\"Name\":\"web-1\",\"Addr\":\"10.0.0.10\",\"Port\":8301,"
    TAGS("node", "") ",\"Status\":4,\"ProtocolMin\":1,\"ProtocolMax\":5,"
    "\"ProtocolCur\":2,\"DelegateMin\":2,\"DelegateMax\":5,"
    "\"DelegateCur\":4},"
    "{\"Name\":\"srv-b\",\"Addr\":\"10.0.0.2\",\"Port\":8301,"
    TAGS("consul", ",\"port\":\"8300\",\"segment\":\"\"") ",\"Status\":1},"
    "{\"Name\":\"srv-a\",\"Addr\":\"10.0.0.1\",\"Port\":8301,"
    TAGS("consul", ",\"port\":\"8300\"") ",\"Status\":1}]";

static void
test_members_table(void **state)
{
	(void)state;
	check(three, false, "_all", NULL, 3,
	    "Node   Address         Status  Type    Build   Protocol  DC   "
	    "Partition  Segment\n"
	    "srv-a  10.0.0.1:8301   alive   server  1.15.2  2         dc1  "
	    "default    <all>\n"
	    "srv-b  10.0.0.2:8301   alive   server  1.15.2  2         dc1  "
	    "default    <all>\n"
	    "web-1  10.0.0.10:8301  failed  client  1.15.2  2         dc1  "
	    "default    <default>");
	/* The default view is -segment=_all. */
	check(three, false, NULL, ".*", 3,
	    "Node   Address         Status  Type    Build   Protocol  DC   "
	    "Partition  Segment\n"
	    "srv-a  10.0.0.1:8301   alive   server  1.15.2  2         dc1  "
	    "default    <all>\n"
	    "srv-b  10.0.0.2:8301   alive   server  1.15.2  2         dc1  "
	    "default    <all>\n"
	    "web-1  10.0.0.10:8301  failed  client  1.15.2  2         dc1  "
	    "default    <default>");
}

/* Any other -segment: a server's empty segment is "<default>" too, and
 * the segment sorts before the name (servers stay first). */
static void
test_members_segment(void **state)
{
	static const char json[] = "["
	    "{\"Name\":\"b\",\"Addr\":\"127.0.0.1\",\"Port\":1,"
	    "\"Tags\":{\"role\":\"consul\",\"segment\":\"alpha\"},"
	    "\"Status\":1},"
	    "{\"Name\":\"a\",\"Addr\":\"127.0.0.1\",\"Port\":2,"
	    "\"Tags\":{\"role\":\"consul\"},\"Status\":1},"
	    "{\"Name\":\"c\",\"Addr\":\"127.0.0.1\",\"Port\":3,"
	    "\"Tags\":{\"role\":\"node\",\"segment\":\"<a\"},\"Status\":1}]";

	(void)state;
	check(json, false, "", NULL, 3,
	    "Node  Address      Status  Type    Build  Protocol  DC  "
	    "Partition  Segment\n"
	    "a     127.0.0.1:2  alive   server  < 0.3                "
	    "default    "
	    "<default>\n"
	    "b     127.0.0.1:1  alive   server  < 0.3                "
	    "default    "
	    "alpha\n"
	    "c     127.0.0.1:3  alive   client  < 0.3                "
	    "default    "
	    "<a");
	/* With "_all" every server is "<all>", whatever its tag. */
	check(json, false, "_all", NULL, 3,
	    "Node  Address      Status  Type    Build  Protocol  DC  "
	    "Partition  Segment\n"
	    "a     127.0.0.1:2  alive   server  < 0.3                "
	    "default    "
	    "<all>\n"
	    "b     127.0.0.1:1  alive   server  < 0.3                "
	    "default    "
	    "<all>\n"
	    "c     127.0.0.1:3  alive   client  < 0.3                "
	    "default    "
	    "<a");
}

/* A member of no known role is "unknown" with empty cells after it,
 * padded like any other (columnize pads all but a line's last cell);
 * names sort by bytes ("Z" before "a"); a build without ':' is shown
 * whole; a partition given is kept and sorts after the default one;
 * cells are trimmed. */
static void
test_members_cells(void **state)
{
	static const char json[] = "["
	    "{\"Name\":\"alpha\",\"Addr\":\"::1\",\"Port\":8301,"
	    "\"Tags\":{\"role\":\"node\",\"build\":\"9.9.9\",\"vsn\":\"3\","
	    "\"dc\":\"east\",\"partition\":\"default\"},\"Status\":2},"
	    "{\"Name\":\"Zed\",\"Addr\":\"10.1.1.1\",\"Port\":8301,"
	    "\"Tags\":{\"role\":\"node\",\"build\":\"1.0.0:x\",\"vsn\":\"2\","
	    "\"dc\":\"east\"},\"Status\":3},"
	    "{\"Name\":\" odd \",\"Addr\":\"bogus\",\"Port\":9,"
	    "\"Tags\":{\"role\":\"weird\"},\"Status\":0},"
	    "{\"Name\":\"p1\",\"Addr\":\"10.1.1.2\",\"Port\":8301,"
	    "\"Tags\":{\"role\":\"node\",\"build\":\"1.0.0\",\"vsn\":\"2\","
	    "\"dc\":\"east\",\"partition\":\"pt\"},\"Status\":1}]";

	(void)state;
	check(json, false, NULL, NULL, 4,
	    "Node   Address        Status   Type     Build  Protocol  DC    "
	    "Partition  Segment\n"
	    "odd    :9             none     unknown                          "
	    "          \n"
	    "Zed    10.1.1.1:8301  left     client   1.0.0  2         east  "
	    "default    <default>\n"
	    "alpha  [::1]:8301     leaving  client   9.9.9  3         east  "
	    "default    <default>\n"
	    "p1     10.1.1.2:8301  alive    client   1.0.0  2         east  "
	    "pt         <default>");
}

/* -status is a regexp on the status name, unanchored; the widths come
 * from the members shown; none shown means no output at all. */
static void
test_members_status_filter(void **state)
{
	(void)state;
	check(three, false, NULL, "^(failed|left)$", 1,
	    "Node   Address         Status  Type    Build   Protocol  DC   "
	    "Partition  Segment\n"
	    "web-1  10.0.0.10:8301  failed  client  1.15.2  2         dc1  "
	    "default    <default>");
	check(three, false, NULL, "liv", 2,
	    "Node   Address        Status  Type    Build   Protocol  DC   "
	    "Partition  Segment\n"
	    "srv-a  10.0.0.1:8301  alive   server  1.15.2  2         dc1  "
	    "default    <all>\n"
	    "srv-b  10.0.0.2:8301  alive   server  1.15.2  2         dc1  "
	    "default    <all>");
	check(three, false, NULL, "leaving", 0, "");
	check(three, true, NULL, "none", 0, "");
	check("null", false, NULL, NULL, 0, "");
	check("[]", false, NULL, NULL, 0, "");
	check("[null]", false, NULL, NULL, 0, "");
}

/* -detailed: the tags sorted by key as k=v joined by ',', with what
 * Consul wrote into them (partition, segment). */
static void
test_members_detailed(void **state)
{
	(void)state;
	check(three, true, NULL, NULL, 3,
	    "Node   Address         Status  Tags\n"
	    "srv-a  10.0.0.1:8301   alive   build=1.15.2:5e08e229,dc=dc1,"
	    "partition=default,port=8300,role=consul,segment=<all>,vsn=2,"
	    "vsn_max=3,vsn_min=2\n"
	    "srv-b  10.0.0.2:8301   alive   build=1.15.2:5e08e229,dc=dc1,"
	    "partition=default,port=8300,role=consul,segment=<all>,vsn=2,"
	    "vsn_max=3,vsn_min=2\n"
	    "web-1  10.0.0.10:8301  failed  build=1.15.2:5e08e229,dc=dc1,"
	    "partition=default,role=node,segment=<default>,vsn=2,vsn_max=3,"
	    "vsn_min=2");
	/* No tags at all (null): Consul's own two, and no role. */
	check("[{\"Name\":\"n\",\"Addr\":\"1.2.3.4\",\"Port\":5,"
	    "\"Tags\":null,\"Status\":1}]", true, "", NULL, 1,
	    "Node  Address    Status  Tags\n"
	    "n     1.2.3.4:5  alive   partition=default,segment=<default>");
	/* A null tag value is the empty string, as in a Go map. */
	check("[{\"Name\":\"n\",\"Addr\":\"1.2.3.4\",\"Port\":5,"
	    "\"Tags\":{\"z\":null,\"a\":\"x\",\"a\":\"y\"},\"Status\":1}]",
	    true, NULL, NULL, 1,
	    "Node  Address    Status  Tags\n"
	    "n     1.2.3.4:5  alive   a=y,partition=default,"
	    "segment=<default>,z=");
}

/* Go matches field names regardless of case; unknown fields are
 * ignored. */
static void
test_members_field_names(void **state)
{
	(void)state;
	check("[{\"name\":\"n\",\"ADDR\":\"1.2.3.4\",\"port\":5,"
	    "\"tags\":{\"role\":\"node\"},\"status\":1,\"Extra\":[1]}]",
	    false, NULL, NULL, 1,
	    "Node  Address    Status  Type    Build  Protocol  DC  "
	    "Partition  Segment\n"
	    "n     1.2.3.4:5  alive   client  < 0.3                "
	    "default    "
	    "<default>");
}

static void
decode_error(const char *json, const char *want)
{
	struct member *m = NULL;
	struct sbuf err;
	size_t n = 99;

	sbuf_init(&err);
	assert_int_equal(members_decode(json, strlen(json), &m, &n, &err), -1);
	assert_non_null(err.s);
	assert_string_equal(err.s, want);
	assert_null(m);
	assert_int_equal(n, 0);
	sbuf_free(&err);
}

static void
test_members_decode_errors(void **state)
{
	(void)state;
	decode_error("", "EOF");
	decode_error("  \n", "EOF");
	decode_error("[{\"Name\":", "unexpected EOF");
	decode_error("{}", "json: cannot unmarshal object into Go value of "
	    "type []*api.AgentMember");
	decode_error("\"x\"", "json: cannot unmarshal string into Go value "
	    "of type []*api.AgentMember");
	decode_error("[1]", "json: cannot unmarshal number into Go value of "
	    "type api.AgentMember");
	decode_error("[{\"Port\":70000}]", "json: cannot unmarshal number "
	    "70000 into Go struct field AgentMember.Port of type uint16");
	decode_error("[{\"Port\":-1}]", "json: cannot unmarshal number -1 "
	    "into Go struct field AgentMember.Port of type uint16");
	decode_error("[{\"Port\":\"8301\"}]", "json: cannot unmarshal string "
	    "into Go struct field AgentMember.Port of type uint16");
	decode_error("[{\"Name\":7}]", "json: cannot unmarshal number into Go "
	    "struct field AgentMember.Name of type string");
	decode_error("[{\"Status\":true}]", "json: cannot unmarshal bool into "
	    "Go struct field AgentMember.Status of type int");
	decode_error("[{\"Tags\":[]}]", "json: cannot unmarshal array into Go "
	    "struct field AgentMember.Tags of type map[string]string");
	decode_error("[{\"Tags\":{\"a\":1}}]", "json: cannot unmarshal number "
	    "into Go struct field AgentMember.Tags of type string");
	/* Consul's CLI panics on these; lictor says why. */
	decode_error("[{\"Name\":\"a\",\"Status\":5}]",
	    "unknown MemberStatus: 5");
	decode_error("[{\"Status\":-1}]", "unknown MemberStatus: -1");
}

static void
addr_is(const char *addr, unsigned port, const char *want)
{
	struct sbuf b;

	sbuf_init(&b);
	member_addr(&b, addr, strlen(addr), port);
	assert_string_equal(b.s, want);
	sbuf_free(&b);
}

/* net.TCPAddr{IP: net.ParseIP(a), Port: p}.String() */
static void
test_member_addr(void **state)
{
	(void)state;
	addr_is("127.0.0.1", 8301, "127.0.0.1:8301");
	addr_is("0.0.0.0", 0, "0.0.0.0:0");
	addr_is("::1", 8301, "[::1]:8301");
	addr_is("::", 1, "[::]:1");
	addr_is("::ffff:10.1.2.3", 8301, "10.1.2.3:8301");
	addr_is("2001:DB8:0:0:1:0:0:1", 7, "[2001:db8::1:0:0:1]:7");
	addr_is("1:0:2:3:4:5:6:7", 7, "[1:0:2:3:4:5:6:7]:7");
	addr_is("fe80:0000:0000:0000:0000:0000:0000:0001", 2, "[fe80::1]:2");
	addr_is("1:2:3:4:5:6:0:0", 2, "[1:2:3:4:5:6::]:2");
	/* Not an IP to Go: no host at all. */
	addr_is("", 8301, ":8301");
	addr_is("localhost", 8301, ":8301");
	addr_is("010.0.0.1", 8301, ":8301");
	addr_is("1.2.3", 8301, ":8301");
	addr_is("fe80::1%eth0", 8301, ":8301");
	addr_is("1.2.3.4:5", 8301, ":8301");
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(member_status_name(MEMBER_NONE), "none");
	assert_string_equal(member_status_name(MEMBER_ALIVE), "alive");
	assert_string_equal(member_status_name(MEMBER_LEAVING), "leaving");
	assert_string_equal(member_status_name(MEMBER_LEFT), "left");
	assert_string_equal(member_status_name(MEMBER_FAILED), "failed");
}

static void
regex_error(const char *expr, const char *want)
{
	struct sbuf err;
	regex_t re;

	sbuf_init(&err);
	assert_int_equal(cli_regcomp(&re, expr, &err), -1);
	assert_string_equal(err.s, want);
	sbuf_free(&err);
}

static void
test_regexp(void **state)
{
	struct sbuf err;
	regex_t re;

	(void)state;
	regex_error("(", "error parsing regexp: missing closing ): `(`");
	regex_error("al(ive", "error parsing regexp: missing closing ): "
	    "`al(ive`");
	regex_error("a[bc", "error parsing regexp: missing closing ]: `[bc`");
	regex_error("a[", "error parsing regexp: missing closing ]: `[`");
	regex_error("[^", "error parsing regexp: missing closing ]: `[^`");
	/* From the class that never closes: a first ']' is a member, a
	 * named class is read whole. */
	regex_error("[a]b[c", "error parsing regexp: missing closing ]: "
	    "`[c`");
	regex_error("x[]a", "error parsing regexp: missing closing ]: "
	    "`[]a`");
	regex_error("x[[:alpha:]", "error parsing regexp: missing closing ]: "
	    "`[[:alpha:]`");
	regex_error("*a", "error parsing regexp: missing argument to "
	    "repetition operator: `*`");
	regex_error("x|{1}", "error parsing regexp: missing argument to "
	    "repetition operator: `{1}`");
	regex_error("a\\", "error parsing regexp: trailing backslash at end "
	    "of expression: ``");
	regex_error("[z-a]", "error parsing regexp: invalid character class "
	    "range: `[z-a]`");
	sbuf_init(&err);
	/* What Go takes, POSIX takes too for these. */
	assert_int_equal(cli_regcomp(&re, "", &err), 0);
	assert_int_equal(regexec(&re, "alive", 0, NULL, 0), 0);
	regfree(&re);
	assert_int_equal(cli_regcomp(&re, "^(alive|left)$", &err), 0);
	assert_int_equal(regexec(&re, "left", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "leaving", 0, NULL, 0), 0);
	regfree(&re);
	assert_null(err.s);
	sbuf_free(&err);
}

static void
event_is(const char *name, const char *node, const char *service,
    const char *tag, int nargs, int want_rv, const char *want)
{
	struct sbuf err;

	sbuf_init(&err);
	assert_int_equal(event_check(name, node, service, tag, nargs, &err),
	    want_rv);
	assert_string_equal(err.s != NULL ? err.s : "", want);
	sbuf_free(&err);
}

/* Consul's order: the name, each filter's regexp, tag without service,
 * then the payload count. */
static void
test_event_check(void **state)
{
	(void)state;
	event_is("deploy", NULL, NULL, NULL, 0, 0, "");
	event_is("deploy", "web.*", "api", "v1", 1, 0, "");
	event_is("_internal", "", "", "", 0, 0, "");
	event_is(NULL, NULL, NULL, NULL, 0, 2, "Event name must be specified");
	event_is("", "(", NULL, NULL, 5, 2, "Event name must be specified");
	event_is("e", "(", "[", NULL, 5, 1, "Failed to compile node filter "
	    "regexp: error parsing regexp: missing closing ): `(`");
	event_is("e", "", "a[", NULL, 0, 1, "Failed to compile service "
	    "filter regexp: error parsing regexp: missing closing ]: `[`");
	event_is("e", NULL, NULL, "*", 0, 1, "Failed to compile tag filter "
	    "regexp: error parsing regexp: missing argument to repetition "
	    "operator: `*`");
	event_is("e", NULL, NULL, "v1", 2, 1, "Cannot provide tag filter "
	    "without service filter.");
	event_is("e", NULL, "web", NULL, 2, 2,
	    "Too many command line arguments.");
}

static void
event_id_is(const char *json, int want_rv, const char *want)
{
	struct sbuf id, err;

	sbuf_init(&id);
	sbuf_init(&err);
	assert_int_equal(event_id_decode(json, strlen(json), &id, &err),
	    want_rv);
	if (want_rv == 0)
		assert_string_equal(id.s != NULL ? id.s : "", want);
	else
		assert_string_equal(err.s, want);
	sbuf_free(&id);
	sbuf_free(&err);
}

static void
test_event_id(void **state)
{
	(void)state;
	event_id_is("{\"ID\":\"3f3c55e1-c6b6-0f2b-3c8e-7a3b4ba3c7b1\","
	    "\"Name\":\"deploy\",\"Payload\":\"djE=\",\"NodeFilter\":\"\","
	    "\"ServiceFilter\":\"\",\"TagFilter\":\"\",\"Version\":1,"
	    "\"LTime\":0}", 0, "3f3c55e1-c6b6-0f2b-3c8e-7a3b4ba3c7b1");
	event_id_is("{\"id\":\"x\"}", 0, "x");
	event_id_is("{}", 0, "");
	event_id_is("null", 0, "");
	event_id_is("", -1, "EOF");
	event_id_is("[]", -1, "json: cannot unmarshal array into Go value "
	    "of type api.UserEvent");
	event_id_is("{\"ID\":5}", -1, "json: cannot unmarshal number into Go "
	    "struct field UserEvent.ID of type string");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_members_table),
		cmocka_unit_test(test_members_segment),
		cmocka_unit_test(test_members_cells),
		cmocka_unit_test(test_members_status_filter),
		cmocka_unit_test(test_members_detailed),
		cmocka_unit_test(test_members_field_names),
		cmocka_unit_test(test_members_decode_errors),
		cmocka_unit_test(test_member_addr),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_regexp),
		cmocka_unit_test(test_event_check),
		cmocka_unit_test(test_event_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
