/*
 * check_acl.c: vhost files (auth/vhost.c), loading a users file and a vhost directory as a whole
 * (auth/db.c), and the authorization checks (auth/acl.c): RabbitMQ's permission table, method by
 * method, each allowed once and refused once; its special cases (the default exchange as
 * amq.default, server-named amq.gen queues, unanchored expressions, "" as "^$"); topic
 * permissions; vhost access and limits. Files sit in heap buffers of exactly their size.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amqp/amqp.h"
#include "auth/auth.h"
#include "test/check_util.h"

#define H "$scrypt$ln=4,r=1,p=1$SYlQorTOCMexuyzxaJjJdw$ecHumLBeSAsN8IcFS383hkgzJfIBCVj8cVk2eSq0YjU"

static const char users_text[] = "alice:" H "\n"
                                 "bob:" H "\n"
                                 "carol:" H "\n"
                                 "dave smith:" H "\n"
                                 "locked:!\n";

struct vfile {
	const char *name;
	const char *text;
	size_t len; /* 0: strlen */
};

/* Build a database from users_text and the given vhost files; NULL and err on failure. */
static struct auth_db *build(const struct vfile *files, size_t n, char *err, size_t errlen)
{
	struct auth_db *db = auth_db_new();
	size_t i, len;
	uint8_t *exact;
	int r;

	err[0] = '\0';
	exact = heap_copy(users_text, strlen(users_text));
	r = auth_db_parse_users(db, "users", exact, strlen(users_text), err, errlen);
	free(exact);
	for (i = 0; r == AUTH_OK && i < n; i++) {
		len = files[i].len != 0 ? files[i].len : strlen(files[i].text);
		exact = heap_copy(files[i].text, len);
		r = auth_db_parse_vhost(db, files[i].name, exact, len, err, errlen);
		free(exact);
	}
	if (r == AUTH_OK)
		r = auth_db_finish(db, err, errlen);
	if (r != AUTH_OK) {
		auth_db_unref(db);
		return NULL;
	}
	return db;
}

static struct auth_db *build1(const char *text)
{
	struct vfile f = { "t.vhost", text, 0 };
	char err[1024];
	struct auth_db *db = build(&f, 1, err, sizeof(err));

	ck_assert_msg(db != NULL, "%s", err);
	return db;
}

#define B(s) amqp_cstr(s)

static bool perm(const struct auth_db *db, const char *user, const char *vhost, enum auth_perm p,
    enum auth_resource k, const char *name)
{
	return auth_permitted(db, B(user), B(vhost), p, k, B(name));
}

/* ---- vhost files ---- */

START_TEST(test_vhost_good_file)
{
	static const char text[] =
	    "# the default vhost\n"
	    "  # indented comment\n"
	    "vhost /\n"
	    "\n"
	    "max-connections 100\n"
	    "max-queues\tunlimited\n"
	    "permissions alice '^alice\\.' \".*\" '.*'\n"
	    "permissions\t'dave smith'  ''   ''  ''\n"
	    "permissions bob 'it''s' \"say \"\"hi\"\"\" ^q$\n"
	    "topic-permissions alice amq.topic '^orders\\.' '^(orders|audit)\\.'\n"
	    "topic-permissions alice events '^{username}\\.{vhost}$' ''";
	struct auth_db *db = build1(text);
	struct auth_limits lim;

	ck_assert_uint_eq(auth_db_vhost_count(db), 1);
	ck_assert(amqp_bytes_eq_cstr(auth_db_vhost_name(db, 0), "/"));
	ck_assert_ptr_null(auth_db_vhost_name(db, 1).ptr);
	ck_assert(auth_vhost_exists(db, B("/")));
	ck_assert(!auth_vhost_exists(db, B("")));
	ck_assert(auth_vhost_limits(db, B("/"), &lim));
	ck_assert_int_eq(lim.max_connections, 100);
	ck_assert_int_eq(lim.max_queues, -1);
	ck_assert(auth_vhost_access(db, B("alice"), B("/")));
	ck_assert(auth_vhost_access(db, B("dave smith"), B("/")));
	ck_assert(!auth_vhost_access(db, B("carol"), B("/")));
	ck_assert(perm(db, "alice", "/", AUTH_CONFIGURE, AUTH_RES_QUEUE, "alice.q"));
	ck_assert(!perm(db, "alice", "/", AUTH_CONFIGURE, AUTH_RES_QUEUE, "aliceXq"));
	ck_assert(perm(db, "bob", "/", AUTH_CONFIGURE, AUTH_RES_QUEUE, "it's"));
	ck_assert(perm(db, "bob", "/", AUTH_WRITE, AUTH_RES_EXCHANGE, "say \"hi\""));
	ck_assert(!perm(db, "bob", "/", AUTH_WRITE, AUTH_RES_EXCHANGE, "say hi"));
	ck_assert(perm(db, "bob", "/", AUTH_READ, AUTH_RES_QUEUE, "q"));
	ck_assert(!perm(db, "dave smith", "/", AUTH_READ, AUTH_RES_QUEUE, "q"));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_vhost_names)
{
	static const char a[] = "vhost 'my vhost'\npermissions alice .* .* .*\n";
	static const char b[] = "vhost \"caf\xc3\xa9\"\n";
	static const char c[] = "vhost prod/eu\n";
	struct vfile f[] = { { "a.vhost", a, 0 }, { "b.vhost", b, 0 }, { "c.vhost", c, 0 } };
	char err[512];
	struct auth_db *db = build(f, 3, err, sizeof(err));

	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(auth_db_vhost_count(db), 3);
	/* in byte order, whatever order the files came in */
	ck_assert(amqp_bytes_eq_cstr(auth_db_vhost_name(db, 0), "caf\xc3\xa9"));
	ck_assert(amqp_bytes_eq_cstr(auth_db_vhost_name(db, 1), "my vhost"));
	ck_assert(amqp_bytes_eq_cstr(auth_db_vhost_name(db, 2), "prod/eu"));
	ck_assert(auth_vhost_access(db, B("alice"), B("my vhost")));
	ck_assert(!auth_vhost_access(db, B("alice"), B("prod/eu")));
	ck_assert(!auth_vhost_access(db, B("alice"), B("my")));
	auth_db_unref(db);
}
END_TEST

#define NUL_FILE "vhost /\npermissions alice .* .* .*\nmax-queues 1\0\n"
static char long_vhost[300];
static char many_vhost_lines[70100];

static const struct vfile bad_vhosts[] = {
	{ "t.vhost", "permissions alice .* .* .*\nvhost /\n", 0 },
	{ "t.vhost", "vhost /\nvhost /\n", 0 },
	{ "t.vhost", "vhost\n", 0 },
	{ "t.vhost", "vhost a b\n", 0 },
	{ "t.vhost", "vhost ''\n", 0 },
	{ "t.vhost", long_vhost, 0 },
	{ "t.vhost", "vhost /\nperms alice .* .* .*\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice .* .*\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice .* .* .* .*\n", 0 },
	{ "t.vhost", "vhost /\npermissions mallory .* .* .*\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice .* .* .*\n# again\npermissions alice '' '' ''\n",
	    0 },
	{ "t.vhost", "vhost /\npermissions alice '\\d+' .* .*\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice .* '(?:a|b)' .*\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice .* .* 'a+?'\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice .* .* '[\\.]'\n", 0 },
	{ "t.vhost", "vhost /\ntopic-permissions alice amq.topic .*\n", 0 },
	{ "t.vhost", "vhost /\ntopic-permissions mallory amq.topic .* .*\n", 0 },
	{ "t.vhost",
	    "vhost /\ntopic-permissions alice x .* .*\ntopic-permissions alice y .* .*\n"
	    "topic-permissions alice x a b\n",
	    0 },
	{ "t.vhost", "vhost /\nmax-connections ten\n", 0 },
	{ "t.vhost", "vhost /\nmax-queues 1.5\n", 0 },
	{ "t.vhost", "vhost /\nmax-queues 99999999999\n", 0 },
	{ "t.vhost", "vhost /\nmax-queues\n", 0 },
	{ "t.vhost", "vhost /\nmax-queues 5\nmax-queues 6\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice '.* .* .*\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice '.*'x .* .*\n", 0 },
	{ "t.vhost", "vhost /\r\n", 0 },
	{ "t.vhost", "vhost /\npermissions alice '\x01' .* .*\n", 0 },
	{ "t.vhost", "vhost /\na b c d e f g h i\n", 0 },
	{ "t.vhost", NUL_FILE, sizeof(NUL_FILE) - 1 },
	{ "t.vhost", "", 0 },
	{ "t.vhost", "# only\n# comments\n\n", 0 },
	{ "t.vhost", many_vhost_lines, 0 },
	{ "t.vhost", "vhost /\ntopic-permissions alice x '{client_id}' .*\n", 0 },
};

static const char *const bad_vhost_errors[] = {
	"t.vhost:1: expected vhost NAME before any other line",
	"t.vhost:2: a second vhost line",
	"t.vhost:1: expected vhost NAME",
	"t.vhost:1: expected vhost NAME",
	"t.vhost:1: a vhost name is 1 to 255 bytes",
	"t.vhost:1: a vhost name is 1 to 255 bytes",
	"t.vhost:2: unknown directive 'perms'",
	"t.vhost:2: expected permissions USER CONFIGURE WRITE READ",
	"t.vhost:2: expected permissions USER CONFIGURE WRITE READ",
	"t.vhost:2: no user 'mallory' in the users file",
	"t.vhost:4: permissions for user 'alice' already given on line 2",
	("t.vhost:2: bad configure regular expression '\\d+': a backslash before a "
	 "letter, digit, <, >, ` or ' (Perl and GNU escapes like \\d or \\b are not POSIX; "
	 "write [0-9] or list the characters)"),
	"t.vhost:2: bad write regular expression '(?:a|b)': a (?...) group (Perl syntax)",
	("t.vhost:2: bad read regular expression 'a+?': a lazy or possessive quantifier "
	 "like *? or ++ (Perl syntax)"),
	("t.vhost:2: bad read regular expression '[\\.]': a backslash inside [...] (literal in "
	 "POSIX, an escape in Perl: write [.] rather than [\\.])"),
	"t.vhost:2: expected topic-permissions USER EXCHANGE WRITE READ",
	"t.vhost:2: no user 'mallory' in the users file",
	"t.vhost:4: topic permissions for user 'alice' on exchange 'x' already given on line 2",
	"t.vhost:2: expected max-connections N (a number, negative or unlimited for none)",
	"t.vhost:2: expected max-queues N (a number, negative or unlimited for none)",
	"t.vhost:2: expected max-queues N (a number, negative or unlimited for none)",
	"t.vhost:2: expected max-queues N (a number, negative or unlimited for none)",
	"t.vhost:3: max-queues given twice",
	"t.vhost:2: unterminated ' quote",
	"t.vhost:2: expected a space after the closing quote",
	"t.vhost:1: control character 0x0d (CRLF line ends?)",
	"t.vhost:2: control character 0x01",
	"t.vhost:2: too many fields",
	"t.vhost:3: NUL byte in the line",
	"t.vhost:1: no vhost line in the file",
	"t.vhost:3: no vhost line in the file",
	"t.vhost:2: line longer than 65536 bytes",
	/* regcomp's own words differ between C libraries: compared up to the colon */
	"t.vhost:2: bad write regular expression '{client_id}': ",
};

static void fill_long_inputs(void)
{
	size_t at;

	memcpy(long_vhost, "vhost ", 6);
	memset(long_vhost + 6, 'v', 256);
	long_vhost[262] = '\n';
	long_vhost[263] = '\0';
	at = (size_t)snprintf(many_vhost_lines, sizeof(many_vhost_lines), "vhost /\n");
	memset(many_vhost_lines + at, '#', sizeof(many_vhost_lines) - at - 1);
	many_vhost_lines[sizeof(many_vhost_lines) - 1] = '\0';
}

START_TEST(test_vhost_errors)
{
	char err[1024];
	const char *want = bad_vhost_errors[_i];
	struct auth_db *db = build(&bad_vhosts[_i], 1, err, sizeof(err));

	ck_assert_ptr_null(db);
	if (want[strlen(want) - 1] == ' ')
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got [%s]", err);
	else
		ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_vhost_duplicate_across_files)
{
	struct vfile f[] = { { "a.vhost", "vhost /\n", 0 }, { "b.vhost", "vhost x\n", 0 },
		{ "c.vhost", "# c\nvhost /\n", 0 } };
	char err[512];

	ck_assert_ptr_null(build(f, 3, err, sizeof(err)));
	ck_assert_str_eq(err, "c.vhost:2: vhost '/' already defined in a.vhost");
}
END_TEST

START_TEST(test_vhost_needs_users_first)
{
	struct auth_db *db = auth_db_new();
	char err[256] = "";

	ck_assert_int_eq(
	    auth_db_parse_vhost(db, "v.vhost", (const uint8_t *)"vhost /\n", 8, err, sizeof(err)),
	    AUTH_E_CONFIG);
	ck_assert_str_eq(err, "v.vhost: load the users file first");
	auth_db_unref(db);
}
END_TEST

START_TEST(test_vhost_limits)
{
	static const char a[] = "vhost a\nmax-connections 0\nmax-queues 1024\n";
	static const char b[] = "vhost b\nmax-connections -1\nmax-queues -20\n";
	static const char c[] = "vhost c\n";
	static const char d[] = "vhost d\nmax-connections 2147483647\nmax-queues unlimited\n";
	struct vfile f[] = { { "a", a, 0 }, { "b", b, 0 }, { "c", c, 0 }, { "d", d, 0 } };
	char err[512];
	struct auth_db *db = build(f, 4, err, sizeof(err));
	struct auth_limits lim;

	ck_assert_msg(db != NULL, "%s", err);
	ck_assert(auth_vhost_limits(db, B("a"), &lim));
	ck_assert_int_eq(lim.max_connections, 0); /* refuses every connection, as RabbitMQ */
	ck_assert_int_eq(lim.max_queues, 1024);
	ck_assert(auth_vhost_limits(db, B("b"), &lim));
	ck_assert_int_eq(lim.max_connections, -1);
	ck_assert_int_eq(lim.max_queues, -1);
	ck_assert(auth_vhost_limits(db, B("c"), &lim));
	ck_assert_int_eq(lim.max_connections, -1);
	ck_assert_int_eq(lim.max_queues, -1);
	ck_assert(auth_vhost_limits(db, B("d"), &lim));
	ck_assert_int_eq(lim.max_connections, 2147483647);
	ck_assert_int_eq(lim.max_queues, -1);
	lim.max_queues = 7;
	ck_assert(!auth_vhost_limits(db, B("e"), &lim));
	ck_assert_int_eq(lim.max_queues, -1);
	auth_db_unref(db);
}
END_TEST

/* ---- the permission table ---- */

struct op_check {
	enum auth_perm perm;
	enum auth_resource kind;
	const char *name;
};

struct op_case {
	const char *method;
	struct op_check checks[3];
	int n;
};

#define CQ(n)                                     \
	{                                         \
		AUTH_CONFIGURE, AUTH_RES_QUEUE, n \
	}
#define CX(n)                                        \
	{                                            \
		AUTH_CONFIGURE, AUTH_RES_EXCHANGE, n \
	}
#define WQ(n)                                 \
	{                                     \
		AUTH_WRITE, AUTH_RES_QUEUE, n \
	}
#define WX(n)                                    \
	{                                        \
		AUTH_WRITE, AUTH_RES_EXCHANGE, n \
	}
#define RQ(n)                                \
	{                                    \
		AUTH_READ, AUTH_RES_QUEUE, n \
	}
#define RX(n)                                   \
	{                                       \
		AUTH_READ, AUTH_RES_EXCHANGE, n \
	}

/* RabbitMQ's table (auth.h has it with its sources), as the checks each method makes. */
static const struct op_case ops[] = {
	{ "exchange.declare", { CX("x1") }, 1 },
	{ "exchange.declare with alternate-exchange", { CX("x1"), RX("x1"), WX("ae1") }, 3 },
	{ "exchange.delete", { CX("x1") }, 1 },
	{ "queue.declare", { CQ("q1") }, 1 },
	{ "queue.declare server-named", { CQ("amq.gen-JzTY20BRgKO-HjmUJj0wLg") }, 1 },
	{ "queue.declare with x-dead-letter-exchange", { CQ("q1"), RQ("q1"), WX("dlx1") }, 3 },
	{ "queue.delete", { CQ("q1") }, 1 },
	{ "queue.purge", { RQ("q1") }, 1 },
	{ "queue.bind", { WQ("q1"), RX("x1") }, 2 },
	{ "queue.unbind", { WQ("q1"), RX("x1") }, 2 },
	{ "exchange.bind", { WX("x2"), RX("x1") }, 2 },
	{ "exchange.unbind", { WX("x2"), RX("x1") }, 2 },
	{ "basic.publish", { WX("x1") }, 1 },
	{ "basic.publish to the default exchange", { WX("") }, 1 },
	{ "basic.get", { RQ("q1") }, 1 },
	{ "basic.consume", { RQ("q1") }, 1 },
};

/* "^(a|b)$" for the names that need perm, '.' escaped; "" when none (grants nothing). */
static void regex_for(const struct op_case *op, enum auth_perm p, int skip, char *out, size_t cap)
{
	size_t at = 0;
	int i, n = 0;
	const char *s, *name;

	out[0] = '\0';
	for (i = 0; i < op->n; i++) {
		if (op->checks[i].perm != p || i == skip)
			continue;
		name = op->checks[i].name;
		if (op->checks[i].kind == AUTH_RES_EXCHANGE && name[0] == '\0')
			name = "amq.default";
		at += (size_t)snprintf(out + at, cap - at, "%s", n++ == 0 ? "^(" : "|");
		for (s = name; *s != '\0'; s++)
			at += (size_t)snprintf(out + at, cap - at, *s == '.' ? "\\%c" : "%c", *s);
	}
	if (n > 0)
		snprintf(out + at, cap - at, ")$");
}

static bool op_allowed(const struct auth_db *db, const char *user, const struct op_case *op)
{
	int i;

	for (i = 0; i < op->n; i++)
		if (!perm(
		        db, user, "v", op->checks[i].perm, op->checks[i].kind, op->checks[i].name))
			return false;
	return true;
}

/*
 * For each method: user "yes" holds exactly the permissions the method needs and may do it; each
 * user "noK" lacks only the K-th and may not; carol has no permissions line at all.
 */
START_TEST(test_permission_table)
{
	const struct op_case *op = &ops[_i];
	char users[4096], text[8192], re[3][512];
	struct vfile f = { "v.vhost", text, 0 };
	struct auth_db *db = auth_db_new();
	size_t at, ul;
	int k, p;
	char err[1024] = "";

	ul = (size_t)snprintf(users, sizeof(users), "yes:" H "\ncarol:" H "\n");
	at = (size_t)snprintf(text, sizeof(text), "vhost v\n");
	for (k = -1; k < op->n; k++) {
		for (p = 0; p < 3; p++)
			regex_for(op, (enum auth_perm)p, k, re[p], sizeof(re[p]));
		if (k < 0) {
			at += (size_t)snprintf(text + at, sizeof(text) - at,
			    "permissions yes '%s' '%s' '%s'\n", re[0], re[1], re[2]);
			continue;
		}
		ul += (size_t)snprintf(users + ul, sizeof(users) - ul, "no%d:" H "\n", k);
		at += (size_t)snprintf(text + at, sizeof(text) - at,
		    "permissions no%d '%s' '%s' '%s'\n", k, re[0], re[1], re[2]);
	}
	ck_assert_int_eq(
	    auth_db_parse_users(db, "users", (const uint8_t *)users, ul, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_msg(auth_db_parse_vhost(db, f.name, (const uint8_t *)text, strlen(text), err,
	                  sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert_int_eq(auth_db_finish(db, err, sizeof(err)), AUTH_OK);

	ck_assert_msg(op_allowed(db, "yes", op), "%s refused to yes", op->method);
	for (k = 0; k < op->n; k++) {
		char user[16];

		snprintf(user, sizeof(user), "no%d", k);
		ck_assert_msg(
		    !op_allowed(db, user, op), "%s allowed without check %d", op->method, k);
		ck_assert_msg(!perm(db, user, "v", op->checks[k].perm, op->checks[k].kind,
		                  op->checks[k].name),
		    "%s: check %d passed for %s", op->method, k, user);
	}
	ck_assert(!op_allowed(db, "carol", op));
	ck_assert(!op_allowed(db, "nobody", op));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_default_exchange_is_amq_default)
{
	struct auth_db *db = build1("vhost v\n"
	                            "permissions alice '' '^amq\\.default$' ''\n"
	                            "permissions bob '' '^$' ''\n"
	                            "permissions carol '' 'default' ''\n");

	ck_assert(perm(db, "alice", "v", AUTH_WRITE, AUTH_RES_EXCHANGE, ""));
	ck_assert(perm(db, "alice", "v", AUTH_WRITE, AUTH_RES_EXCHANGE, "amq.default"));
	/* "^$" matches no exchange: "" is checked as amq.default */
	ck_assert(!perm(db, "bob", "v", AUTH_WRITE, AUTH_RES_EXCHANGE, ""));
	ck_assert(perm(db, "carol", "v", AUTH_WRITE, AUTH_RES_EXCHANGE, ""));
	/* queues are not renamed */
	ck_assert(!perm(db, "alice", "v", AUTH_WRITE, AUTH_RES_QUEUE, ""));
	ck_assert(perm(db, "bob", "v", AUTH_WRITE, AUTH_RES_QUEUE, ""));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_server_named_queues)
{
	/* The guide's example: server-generated names and the default exchange only. */
	struct auth_db *db =
	    build1("vhost v\n"
	           "permissions alice '^(amq\\.gen.*|amq\\.default)$' "
	           "'^(amq\\.gen.*|amq\\.default)$' '^(amq\\.gen.*|amq\\.default)$'\n"
	           "permissions bob '^bob-' '^bob-' '^bob-'\n");

	ck_assert(perm(db, "alice", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "amq.gen-JzTY20BRgKO"));
	ck_assert(perm(db, "alice", "v", AUTH_READ, AUTH_RES_QUEUE, "amq.gen-JzTY20BRgKO"));
	ck_assert(perm(db, "alice", "v", AUTH_WRITE, AUTH_RES_EXCHANGE, ""));
	ck_assert(!perm(db, "alice", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "orders"));
	ck_assert(!perm(db, "alice", "v", AUTH_WRITE, AUTH_RES_EXCHANGE, "amq.topic"));
	/* no automatic right to amq.gen names (RabbitMQ 1.x had one; modern RabbitMQ does not) */
	ck_assert(!perm(db, "bob", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "amq.gen-JzTY20BRgKO"));
	ck_assert(perm(db, "bob", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "bob-1"));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_regex_unanchored_like_rabbitmq)
{
	struct auth_db *db = build1("vhost v\n"
	                            "permissions alice foo '^foo' 'foo$'\n"
	                            "permissions bob '' '.*' 'a|^b$'\n");

	ck_assert(perm(db, "alice", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "myfoobar"));
	ck_assert(perm(db, "alice", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "foo"));
	ck_assert(!perm(db, "alice", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "fo"));
	ck_assert(!perm(db, "alice", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "FOO"));
	ck_assert(perm(db, "alice", "v", AUTH_WRITE, AUTH_RES_QUEUE, "foobar"));
	ck_assert(!perm(db, "alice", "v", AUTH_WRITE, AUTH_RES_QUEUE, "myfoo"));
	ck_assert(perm(db, "alice", "v", AUTH_READ, AUTH_RES_QUEUE, "myfoo"));
	ck_assert(!perm(db, "alice", "v", AUTH_READ, AUTH_RES_QUEUE, "foobar"));
	/* "" is "^$": nothing but the empty name */
	ck_assert(!perm(db, "bob", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, "q"));
	ck_assert(perm(db, "bob", "v", AUTH_CONFIGURE, AUTH_RES_QUEUE, ""));
	ck_assert(perm(db, "bob", "v", AUTH_WRITE, AUTH_RES_QUEUE, ""));
	ck_assert(perm(db, "bob", "v", AUTH_READ, AUTH_RES_QUEUE, "xax"));
	ck_assert(perm(db, "bob", "v", AUTH_READ, AUTH_RES_QUEUE, "b"));
	ck_assert(!perm(db, "bob", "v", AUTH_READ, AUTH_RES_QUEUE, "bb"));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_names_with_nul_and_high_bytes)
{
	struct auth_db *db = build1("vhost v\npermissions alice '^a$' 'b$' '^caf\xc3\xa9$'\n");
	static const uint8_t anb[] = { 'a', 0, 'b' };
	struct amqp_bytes n = { anb, sizeof(anb) };

	/* the whole name counts, NULs included: "a\0b" is not "a" */
	ck_assert(!auth_permitted(db, B("alice"), B("v"), AUTH_CONFIGURE, AUTH_RES_QUEUE, n));
	ck_assert(auth_permitted(db, B("alice"), B("v"), AUTH_WRITE, AUTH_RES_QUEUE, n));
	ck_assert(perm(db, "alice", "v", AUTH_READ, AUTH_RES_QUEUE, "caf\xc3\xa9"));
	ck_assert(!perm(db, "alice", "v", AUTH_READ, AUTH_RES_QUEUE, "cafe"));
	/* empty slices may carry a NULL pointer */
	ck_assert(!auth_permitted(db, B("alice"), B("v"), AUTH_CONFIGURE, AUTH_RES_QUEUE,
	    (struct amqp_bytes){ NULL, 0 }));
	ck_assert(!auth_permitted(db, (struct amqp_bytes){ NULL, 0 },
	    (struct amqp_bytes){ NULL, 0 }, AUTH_CONFIGURE, AUTH_RES_QUEUE, B("a")));
	ck_assert(auth_topic_permitted(db, B("alice"), B("v"), (struct amqp_bytes){ NULL, 0 },
	    (struct amqp_bytes){ NULL, 0 }, AUTH_WRITE));
	ck_assert(!auth_user_exists(db, (struct amqp_bytes){ NULL, 0 }));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_permissions_per_vhost)
{
	struct vfile f[] = { { "a.vhost", "vhost a\npermissions alice .* .* .*\n", 0 },
		{ "b.vhost", "vhost b\npermissions alice '' '' ''\npermissions bob .* .* .*\n",
		    0 } };
	char err[512];
	struct auth_db *db = build(f, 2, err, sizeof(err));
	const struct auth_grant *g;

	ck_assert_msg(db != NULL, "%s", err);
	ck_assert(perm(db, "alice", "a", AUTH_READ, AUTH_RES_QUEUE, "q"));
	ck_assert(!perm(db, "alice", "b", AUTH_READ, AUTH_RES_QUEUE, "q"));
	ck_assert(auth_vhost_access(db, B("alice"), B("b"))); /* "" "" "" still opens the vhost */
	ck_assert(!perm(db, "bob", "a", AUTH_READ, AUTH_RES_QUEUE, "q"));
	ck_assert(!auth_vhost_access(db, B("bob"), B("a")));
	ck_assert(perm(db, "bob", "b", AUTH_READ, AUTH_RES_QUEUE, "q"));
	ck_assert(!perm(db, "alice", "c", AUTH_READ, AUTH_RES_QUEUE, "q"));
	ck_assert(!auth_vhost_access(db, B("alice"), B("c")));
	ck_assert(!perm(db, "Alice", "a", AUTH_READ, AUTH_RES_QUEUE, "q"));
	/* the grant handle answers the same */
	g = auth_grant_find(db, B("alice"), B("a"));
	ck_assert_ptr_nonnull(g);
	ck_assert(auth_grant_permitted(g, AUTH_CONFIGURE, AUTH_RES_EXCHANGE, B("x")));
	ck_assert_ptr_null(auth_grant_find(db, B("bob"), B("a")));
	ck_assert(!auth_grant_permitted(NULL, AUTH_READ, AUTH_RES_QUEUE, B("q")));
	ck_assert(!auth_grant_permitted(g, (enum auth_perm)7, AUTH_RES_QUEUE, B("q")));
	ck_assert(!auth_permitted(NULL, B("alice"), B("a"), AUTH_READ, AUTH_RES_QUEUE, B("q")));
	auth_db_unref(db);
}
END_TEST

/* ---- topic permissions ---- */

START_TEST(test_topic_permissions)
{
	struct auth_db *db =
	    build1("vhost v\n"
	           "permissions alice .* .* .*\n"
	           "permissions bob .* .* .*\n"
	           "topic-permissions alice amq.topic '^orders\\.' '^(orders|audit)\\.'\n"
	           "topic-permissions alice x.empty '' ''\n"
	           "topic-permissions bob amq.topic .* '^$'\n");
	struct amqp_bytes u = B("alice"), v = B("v"), t = B("amq.topic");

	ck_assert(auth_topic_permitted(db, u, v, t, B("orders.eu"), AUTH_WRITE));
	ck_assert(!auth_topic_permitted(db, u, v, t, B("audit.eu"), AUTH_WRITE));
	ck_assert(auth_topic_permitted(db, u, v, t, B("audit.eu"), AUTH_READ));
	ck_assert(!auth_topic_permitted(db, u, v, t, B("billing.eu"), AUTH_READ));
	ck_assert(!auth_topic_permitted(db, u, v, t, B("xorders.eu"), AUTH_WRITE));
	/* no topic permissions on an exchange: everything, as RabbitMQ */
	ck_assert(auth_topic_permitted(db, u, v, B("other"), B("anything"), AUTH_WRITE));
	ck_assert(auth_topic_permitted(db, B("carol"), v, t, B("anything"), AUTH_WRITE));
	/* "" only the empty routing key */
	ck_assert(auth_topic_permitted(db, u, v, B("x.empty"), B(""), AUTH_WRITE));
	ck_assert(!auth_topic_permitted(db, u, v, B("x.empty"), B("a"), AUTH_READ));
	ck_assert(auth_topic_permitted(db, B("bob"), v, t, B("a.b"), AUTH_WRITE));
	ck_assert(!auth_topic_permitted(db, B("bob"), v, t, B("a.b"), AUTH_READ));
	/* configure is not a topic permission; an unknown vhost refuses */
	ck_assert(!auth_topic_permitted(db, u, v, t, B("orders.eu"), AUTH_CONFIGURE));
	ck_assert(!auth_topic_permitted(db, u, B("w"), t, B("orders.eu"), AUTH_WRITE));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_topic_variable_expansion)
{
	struct vfile f = { "p.vhost",
		"vhost prod\n"
		"topic-permissions alice amq.topic '^{username}\\.' '^{vhost}\\.{username}$'\n"
		"topic-permissions 'dave smith' amq.topic '^{username}$' .*\n",
		0 };
	char err[512];
	struct auth_db *db = build(&f, 1, err, sizeof(err));
	struct amqp_bytes v = B("prod"), t = B("amq.topic");

	ck_assert_msg(db != NULL, "%s", err);
	ck_assert(auth_topic_permitted(db, B("alice"), v, t, B("alice.x"), AUTH_WRITE));
	ck_assert(!auth_topic_permitted(db, B("alice"), v, t, B("bob.x"), AUTH_WRITE));
	ck_assert(auth_topic_permitted(db, B("alice"), v, t, B("prod.alice"), AUTH_READ));
	ck_assert(!auth_topic_permitted(db, B("alice"), v, t, B("test.alice"), AUTH_READ));
	ck_assert(auth_topic_permitted(db, B("dave smith"), v, t, B("dave smith"), AUTH_WRITE));
	ck_assert(!auth_topic_permitted(db, B("dave smith"), v, t, B("dave"), AUTH_WRITE));
	auth_db_unref(db);
}
END_TEST

/* ---- loading from files ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static char tmpdir[64];

static void make_tree(void)
{
	char path[256];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_acl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/users", tmpdir);
	write_file(path, users_text);
	snprintf(path, sizeof(path), "%s/vhosts", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/vhosts/default.vhost", tmpdir);
	write_file(path, "vhost /\npermissions alice .* .* .*\n");
	snprintf(path, sizeof(path), "%s/vhosts/prod.vhost", tmpdir);
	write_file(path, "vhost prod\nmax-queues 10\npermissions bob .* .* .*\n");
	/* not vhost files: ignored */
	snprintf(path, sizeof(path), "%s/vhosts/prod.vhost~", tmpdir);
	write_file(path, "garbage\n");
	snprintf(path, sizeof(path), "%s/vhosts/.hidden.vhost", tmpdir);
	write_file(path, "garbage\n");
	snprintf(path, sizeof(path), "%s/vhosts/README", tmpdir);
	write_file(path, "garbage\n");
	snprintf(path, sizeof(path), "%s/vhosts/.vhost", tmpdir);
	write_file(path, "garbage\n");
}

static void remove_tree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_load_directory)
{
	char users[128], vhosts[128], err[512] = "";
	struct auth_db *db;

	make_tree();
	snprintf(users, sizeof(users), "%s/users", tmpdir);
	snprintf(vhosts, sizeof(vhosts), "%s/vhosts", tmpdir);
	ck_assert_msg(auth_db_load(users, vhosts, &db, err, sizeof(err)) == AUTH_OK, "%s", err);
	ck_assert_uint_eq(auth_db_user_count(db), 5);
	ck_assert_uint_eq(auth_db_vhost_count(db), 2);
	ck_assert(auth_vhost_access(db, B("alice"), B("/")));
	ck_assert(auth_vhost_access(db, B("bob"), B("prod")));
	auth_db_ref(db);
	auth_db_unref(db);
	ck_assert(auth_vhost_access(db, B("bob"), B("prod")));
	auth_db_unref(db);
	ck_assert_int_eq(auth_db_load(users, NULL, &db, err, sizeof(err)), AUTH_OK);
	ck_assert_uint_eq(auth_db_vhost_count(db), 0);
	auth_db_unref(db);
	remove_tree();
}
END_TEST

START_TEST(test_load_rejects_as_a_whole)
{
	char users[128], vhosts[128], path[160], err[512] = "", want[512];
	struct auth_db *db = (struct auth_db *)1;

	make_tree();
	snprintf(users, sizeof(users), "%s/users", tmpdir);
	snprintf(vhosts, sizeof(vhosts), "%s/vhosts", tmpdir);
	/* a bad third file (in name order) rejects everything */
	snprintf(path, sizeof(path), "%s/zz.vhost", vhosts);
	write_file(path, "vhost z\npermissions alice .* .* .*\npermissions mallory .* .* .*\n");
	ck_assert_int_eq(auth_db_load(users, vhosts, &db, err, sizeof(err)), AUTH_E_CONFIG);
	ck_assert_ptr_null(db);
	snprintf(want, sizeof(want), "%s:3: no user 'mallory' in the users file", path);
	ck_assert_str_eq(err, want);
	/* a duplicate vhost names both files */
	write_file(path, "vhost prod\n");
	ck_assert_int_eq(auth_db_load(users, vhosts, &db, err, sizeof(err)), AUTH_E_CONFIG);
	snprintf(want, sizeof(want), "%s:1: vhost 'prod' already defined in %s/prod.vhost", path,
	    vhosts);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(unlink(path), 0);
	/* a missing users file or directory */
	snprintf(path, sizeof(path), "%s/nope", tmpdir);
	ck_assert_int_eq(auth_db_load(path, vhosts, &db, err, sizeof(err)), AUTH_E_CONFIG);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(auth_db_load(users, path, &db, err, sizeof(err)), AUTH_E_CONFIG);
	ck_assert_str_eq(err, want);
	/* a directory where the users file should be */
	ck_assert_int_eq(auth_db_load(vhosts, vhosts, &db, err, sizeof(err)), AUTH_E_CONFIG);
	snprintf(want, sizeof(want), "%s: not a regular file", vhosts);
	ck_assert_str_eq(err, want);
	remove_tree();
}
END_TEST

START_TEST(test_example_files_load)
{
	char err[512] = "";
	struct auth_db *db;
	struct auth_limits lim;

	ck_assert_msg(auth_db_load(WARREN_SRCDIR "/etc/users", WARREN_SRCDIR "/etc/vhosts", &db,
	                  err, sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert(auth_vhost_exists(db, B("/")));
	ck_assert(auth_vhost_access(db, B("guest"), B("/")));
	ck_assert(auth_vhost_limits(db, B("/"), &lim));
	auth_db_unref(db);
}
END_TEST

/* ---- what a reload changes (auth/diff.c), and the saslauthd backend's vhost files ---- */

/* A database from a users file and one vhost file, for a backend; the test fails on an error. */
static struct auth_db *build_with(const char *users, const char *vhost, enum auth_backend b)
{
	struct auth_db *db = auth_db_new();
	char err[1024];

	auth_db_set_backend(db, b);
	ck_assert_msg(auth_db_parse_users(db, "users", (const uint8_t *)users, strlen(users), err,
	                  sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert_msg(auth_db_parse_vhost(db, "v.vhost", (const uint8_t *)vhost, strlen(vhost), err,
	                  sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert_int_eq(auth_db_finish(db, err, sizeof(err)), AUTH_OK);
	return db;
}

struct lines {
	char text[4096];
	size_t len;
};

static void collect(void *arg, const char *line)
{
	struct lines *l = arg;

	l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", line);
}

#define H2 "$scrypt$ln=4,r=1,p=1$SYlQorTOCMexuyzxaJjJdw$ecHumLBeSAsN8IcFS383hkgzJfIBCVj8cVk2eSq0YjY"

START_TEST(test_diff_lists_changes)
{
	struct auth_db *a = build_with("alice:" H "\nbob:" H ":monitoring\ncarol:" H "\n",
	    "vhost /\nmax-connections 10\npermissions alice .* .* .*\npermissions bob '' '' ''\n"
	    "topic-permissions alice amq.topic '^a' .*\n",
	    AUTH_BACKEND_INTERNAL);
	struct auth_db *b = build_with("alice:" H2 "\nbob:" H ":management\ndave:" H "\n",
	    "vhost /\npermissions alice '' .* .*\npermissions dave .* .* .*\n"
	    "topic-permissions alice amq.topic '^b' .*\n",
	    AUTH_BACKEND_INTERNAL);
	struct lines l = { "", 0 };

	ck_assert_uint_eq(auth_db_diff(a, b, collect, &l), 9);
	ck_assert_str_eq(l.text,
	    "user 'alice': password changed\n"
	    "user 'bob': tags 'monitoring' -> 'management'\n"
	    "user 'carol' removed\n"
	    "user 'dave' added\n"
	    "vhost '/': max-connections 10 -> unlimited\n"
	    "vhost '/': permissions of 'alice' '.*' '.*' '.*' -> '' '.*' '.*'\n"
	    "vhost '/': permissions of 'bob' removed\n"
	    "vhost '/': permissions of 'dave' added: '.*' '.*' '.*'\n"
	    "vhost '/': topic permissions of 'alice' on 'amq.topic' changed\n");
	auth_db_unref(a);
	auth_db_unref(b);
}
END_TEST

START_TEST(test_diff_vhosts_and_nothing)
{
	struct vfile one[] = { { "a.vhost", "vhost /\npermissions alice .* .* .*\n", 0 } };
	struct vfile two[] = { { "a.vhost", "vhost /\npermissions alice .* .* .*\n", 0 },
		{ "b.vhost", "vhost orders\npermissions bob .* .* .*\n", 0 } };
	char err[512];
	struct auth_db *a = build(one, 1, err, sizeof(err)), *b = build(two, 2, err, sizeof(err));
	struct lines l = { "", 0 };

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(auth_db_diff(a, a, collect, &l), 0);
	ck_assert_uint_eq(auth_db_diff(a, b, collect, &l), 1);
	ck_assert_str_eq(l.text, "vhost 'orders' added (1 users with permissions)\n");
	l.len = 0;
	ck_assert_uint_eq(auth_db_diff(b, a, collect, &l), 1);
	ck_assert_str_eq(l.text, "vhost 'orders' removed\n");
	auth_db_unref(a);
	auth_db_unref(b);
}
END_TEST

/* Under saslauthd, vhost files may name users the users file lacks; "saslauthd" is a hash. */
START_TEST(test_saslauthd_backend_files)
{
	struct auth_db *db = build_with("alice:" H "\nerin:saslauthd:impersonator\n",
	    "vhost /\npermissions alice .* .* .*\npermissions erin .* .* .*\n"
	    "permissions 'frank@example.org' '' '' .*\ntopic-permissions gina amq.topic .* .*\n",
	    AUTH_BACKEND_SASLAUTHD);
	struct auth_db *other = build_with(
	    "alice:" H "\n", "vhost /\npermissions alice .* .* .*\n", AUTH_BACKEND_SASLAUTHD);
	struct lines l = { "", 0 };
	struct auth_db *db2 = auth_db_new();
	char err[512];
	static const char bad[] = "vhost /\npermissions '' .* .* .*\n";

	ck_assert(auth_vhost_access(db, B("frank@example.org"), B("/")));
	ck_assert(!auth_vhost_access(db, B("gina"), B("/")));
	ck_assert(auth_db_uses_saslauthd(db, B("frank@example.org")));
	ck_assert(auth_db_uses_saslauthd(db, B("erin")));
	ck_assert(!auth_db_uses_saslauthd(db, B("alice")));
	ck_assert(auth_user_has_tag(db, B("erin"), "impersonator"));
	ck_assert_uint_eq(auth_db_diff(other, db, collect, &l), 4);
	ck_assert_str_eq(l.text,
	    "user 'erin' added\n"
	    "vhost '/': permissions of 'erin' added: '.*' '.*' '.*'\n"
	    "vhost '/': permissions of 'frank@example.org' added: '' '' '.*'\n"
	    "vhost '/': topic permissions of 'gina' on 'amq.topic' added\n");
	/* a name is still 1 to 255 bytes */
	auth_db_set_backend(db2, AUTH_BACKEND_SASLAUTHD);
	ck_assert_int_eq(
	    auth_db_parse_users(db2, "users", (const uint8_t *)"a:!\n", 4, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(auth_db_parse_vhost(
	                     db2, "v.vhost", (const uint8_t *)bad, strlen(bad), err, sizeof(err)),
	    AUTH_E_CONFIG);
	ck_assert_str_eq(err, "v.vhost:2: a user name is 1 to 255 bytes");
	auth_db_unref(db);
	auth_db_unref(other);
	auth_db_unref(db2);
}
END_TEST

static Suite *acl_suite(void)
{
	Suite *s = suite_create("acl");
	TCase *v = tcase_create("vhost files"), *p = tcase_create("permissions");
	TCase *l = tcase_create("load");

	tcase_add_test(v, test_vhost_good_file);
	tcase_add_test(v, test_vhost_names);
	tcase_add_loop_test(
	    v, test_vhost_errors, 0, (int)(sizeof(bad_vhosts) / sizeof(bad_vhosts[0])));
	tcase_add_test(v, test_vhost_duplicate_across_files);
	tcase_add_test(v, test_vhost_needs_users_first);
	tcase_add_test(v, test_vhost_limits);
	suite_add_tcase(s, v);

	tcase_add_loop_test(p, test_permission_table, 0, (int)(sizeof(ops) / sizeof(ops[0])));
	tcase_add_test(p, test_default_exchange_is_amq_default);
	tcase_add_test(p, test_server_named_queues);
	tcase_add_test(p, test_regex_unanchored_like_rabbitmq);
	tcase_add_test(p, test_names_with_nul_and_high_bytes);
	tcase_add_test(p, test_permissions_per_vhost);
	tcase_add_test(p, test_topic_permissions);
	tcase_add_test(p, test_topic_variable_expansion);
	suite_add_tcase(s, p);

	tcase_add_test(l, test_load_directory);
	tcase_add_test(l, test_load_rejects_as_a_whole);
	tcase_add_test(l, test_example_files_load);
	tcase_add_test(l, test_diff_lists_changes);
	tcase_add_test(l, test_diff_vhosts_and_nothing);
	tcase_add_test(l, test_saslauthd_backend_files);
	suite_add_tcase(s, l);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	fill_long_inputs();
	sr = srunner_create(acl_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
