/*
 * check_policy.c: auth/policy.c: policy and operator-policy lines of a vhost file (parsed, and
 * refused with FILE:LINE and RabbitMQ 3.10.8's reason), matching (pattern, apply-to, priority and
 * the tie rule), the merge of a policy with an operator policy, the reload's report lines, and
 * the lines auth/edit.c writes for the management API.
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

static const char users_file[] = "guest:!\n";

static bool bytes_eq_str(struct amqp_bytes b, const char *s)
{
	return b.len == strlen(s) && (b.len == 0 || memcmp(b.ptr, s, b.len) == 0);
}

/* A database of one vhost "/" whose file holds text after its vhost line; NULL with err. */
static struct auth_db *load(const char *text, char *err, size_t errlen)
{
	struct auth_db *db = auth_db_new();
	char buf[4096];

	snprintf(buf, sizeof(buf), "vhost /\n%s", text);
	if (auth_db_parse_users(db, "users", (const uint8_t *)users_file, strlen(users_file), err,
	        errlen) != AUTH_OK ||
	    auth_db_parse_vhost(db, "v.vhost", (const uint8_t *)buf, strlen(buf), err, errlen) !=
	        AUTH_OK ||
	    auth_db_finish(db, err, errlen) != AUTH_OK) {
		auth_db_unref(db);
		return NULL;
	}
	return db;
}

static struct auth_db *load_ok(const char *text)
{
	char err[512];
	struct auth_db *db = load(text, err, sizeof(err));

	ck_assert_msg(db != NULL, "%s", err);
	return db;
}

/* The name of the policy (op: operator) matching a queue (or exchange) name, or "-". */
static const char *match(const struct auth_db *db, bool op, enum auth_resource kind, const char *n)
{
	static char out[64];
	const struct auth_policy *p = auth_policy_match(db, amqp_cstr("/"), op, kind, amqp_cstr(n));
	struct auth_policy_info pi;

	if (p == NULL)
		return "-";
	auth_policy_info(p, &pi);
	snprintf(out, sizeof(out), "%.*s", (int)pi.name.len, (const char *)pi.name.ptr);
	return out;
}

START_TEST(lines_parse)
{
	struct auth_db *db = load_ok(
	    "policy ttl '^orders\\.' '{\"message-ttl\": 60000, \"dead-letter-exchange\": \"dlx\"}' "
	    "priority 3 apply-to queues\n"
	    "policy ae '.*' '{\"alternate-exchange\":\"ae\"}' apply-to exchanges priority -2\n"
	    "operator-policy cap '' '{\"max-length\":100}'\n"
	    "# a policy and an operator policy may share a name\n"
	    "operator-policy ttl x '{\"expires\":1000}'\n");
	struct auth_policy_info pi;
	size_t vi, n = 0;

	ck_assert(auth_db_vhost_index(db, amqp_cstr("/"), &vi));
	ck_assert(auth_vhost_has_policies(db, amqp_cstr("/")));
	/* policies by name, then operator policies by name */
	ck_assert(auth_db_policy_at(db, vi, 0, &pi));
	ck_assert(bytes_eq_str(pi.name, "ae") && !pi.op && pi.priority == -2);
	ck_assert_str_eq(pi.apply_to, "exchanges");
	ck_assert_str_eq(pi.definition, "{\"alternate-exchange\":\"ae\"}");
	ck_assert(auth_db_policy_at(db, vi, 1, &pi));
	ck_assert(bytes_eq_str(pi.name, "ttl") && !pi.op && pi.priority == 3);
	ck_assert_str_eq(pi.pattern, "^orders\\.");
	/* stored compact, keys sorted */
	ck_assert_str_eq(pi.definition, "{\"dead-letter-exchange\":\"dlx\",\"message-ttl\":60000}");
	ck_assert_uint_eq(pi.values->has, 1u << AUTH_PK_MESSAGE_TTL | 1u << AUTH_PK_DLX);
	ck_assert_uint_eq(pi.values->n[AUTH_PK_MESSAGE_TTL], 60000);
	ck_assert_str_eq(pi.values->s[AUTH_PK_DLX], "dlx");
	ck_assert(auth_db_policy_at(db, vi, 2, &pi));
	ck_assert(bytes_eq_str(pi.name, "cap") && pi.op);
	ck_assert_str_eq(pi.apply_to, "all");
	ck_assert(auth_db_policy_at(db, vi, 3, &pi));
	ck_assert(bytes_eq_str(pi.name, "ttl") && pi.op);
	while (auth_db_policy_at(db, vi, n, &pi))
		n++;
	ck_assert_uint_eq(n, 4);
	auth_db_unref(db);
}
END_TEST

/* Every key RabbitMQ 3.10.8 registers is accepted, with a valid value. */
START_TEST(rabbitmq_keys_accepted)
{
	static const char *const defs[] = {
		"{\"ha-mode\":\"exactly\",\"ha-params\":2,\"ha-sync-mode\":\"automatic\","
		"\"ha-sync-batch-size\":10,\"ha-promote-on-shutdown\":\"always\","
		"\"ha-promote-on-failure\":\"when-synced\"}",
		"{\"queue-version\":2,\"queue-master-locator\":\"min-masters\","
		"\"max-in-memory-length\":1,\"max-in-memory-bytes\":2}",
		"{\"dead-letter-strategy\":\"at-least-once\",\"max-age\":\"1D\","
		"\"stream-max-segment-size-bytes\":1000,\"initial-cluster-size\":3,"
		"\"queue-leader-locator\":\"balanced\"}",
		"{\"overflow\":\"reject-publish-dlx\",\"queue-mode\":\"lazy\",\"delivery-limit\":0,"
		"\"max-length-bytes\":0,\"expires\":1,\"dead-letter-routing-key\":\"k\"}",
		"{\"dispatch\":\"least-unacked\"}",
		"{\"x-dispatch\":\"round-robin\"}",
	};
	char line[512], err[512];
	struct auth_db *db;
	size_t i;

	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		snprintf(line, sizeof(line), "policy p '.*' '%s'\n", defs[i]);
		db = load(line, err, sizeof(err));
		ck_assert_msg(db != NULL, "%s: %s", defs[i], err);
		auth_db_unref(db);
	}
}
END_TEST

static const struct {
	const char *line, *err;
} bad[] = {
	{ "policy p '.*' '{\"foo\":1}'",
	    "v.vhost:2: policy 'p': [{<<\"foo\">>,1}] are not recognised policy settings" },
	{ "policy p '.*' '{\"message-ttl\":-1}'",
	    "v.vhost:2: policy 'p': -1 is not a valid message TTL" },
	{ "policy p '.*' '{\"message-ttl\":1.5}'",
	    "v.vhost:2: policy 'p': 1.5 is not a valid message TTL" },
	{ "policy p '.*' '{\"message-ttl\":\"100\"}'",
	    "v.vhost:2: policy 'p': <<\"100\">> is not a valid message TTL" },
	{ "policy p '.*' '{\"expires\":0}'",
	    "v.vhost:2: policy 'p': 0 is not a valid queue expiry" },
	{ "policy p '.*' '{\"max-length\":true}'",
	    "v.vhost:2: policy 'p': true is not a valid maximum length" },
	{ "policy p '.*' '{\"overflow\":\"x\"}'",
	    "v.vhost:2: policy 'p': <<\"x\">> is not a valid overflow value" },
	{ "policy p '.*' '{\"dead-letter-exchange\":1}'",
	    "v.vhost:2: policy 'p': 1 is not a valid dead letter exchange name" },
	{ "policy p '.*' '{\"queue-mode\":\"fast\"}'",
	    "v.vhost:2: policy 'p': <<\"fast\">> is not a valid queue-mode value" },
	{ "policy p '.*' '{\"dispatch\":\"random\"}'",
	    "v.vhost:2: policy 'p': <<\"random\">> is not a valid dispatch value" },
	{ "policy p '.*' '{\"ha-sync-mode\":\"manual\"}'",
	    "v.vhost:2: policy 'p': ha-mode must be specified to specify ha-params, ha-sync-mode "
	    "or ha-promote-on-shutdown" },
	{ "policy p '.*' '{\"ha-mode\":\"exactly\"}'",
	    "v.vhost:2: policy 'p': ha-mode=\"exactly\" takes an integer, none given" },
	{ "policy p '.*' '{}'", "v.vhost:2: policy 'p': no policy provided" },
	{ "policy p '.*' '[1]'", "v.vhost:2: policy 'p': definition must be a dictionary" },
	{ "policy p '.*' '{\"message-ttl\":1,\"message-ttl\":2}'",
	    "v.vhost:2: policy 'p': Could not parse JSON document: duplicate object key*" },
	{ "policy p '.*' 'ttl'", "v.vhost:2: policy 'p': Could not parse JSON document: *" },
	{ "policy p '(' '{\"message-ttl\":1}'",
	    "v.vhost:2: policy 'p': pattern should be regular expression but is invalid: *" },
	{ "operator-policy o '.*' '{\"overflow\":\"drop-head\"}'",
	    "v.vhost:2: operator-policy 'o': [{<<\"overflow\">>,<<\"drop-head\">>}] are not "
	    "recognised operator policy settings" },
	{ "operator-policy o '.*' '{\"dead-letter-exchange\":\"x\"}'",
	    "v.vhost:2: operator-policy 'o': [{<<\"dead-letter-exchange\">>,<<\"x\">>}] are not "
	    "recognised operator policy settings" },
	{ "policy p '.*' '{\"message-ttl\":1}' priority x",
	    "v.vhost:2: 'x' priority must be a number (an integer)" },
	{ "policy p '.*' '{\"message-ttl\":1}' priority 99999999999",
	    "v.vhost:2: '99999999999' priority must be a number (an integer)" },
	{ "policy p '.*' '{\"message-ttl\":1}' apply-to queue",
	    "v.vhost:2: apply-to 'queue' unrecognised; should be 'queues', 'exchanges' or 'all'" },
	{ "policy p '.*' '{\"message-ttl\":1}' priority 1 priority 2",
	    "v.vhost:2: expected priority N or apply-to queues|exchanges|all (each once), not "
	    "'priority'" },
	{ "policy p '.*' '{\"message-ttl\":1}' apply-to",
	    "v.vhost:2: expected policy NAME PATTERN DEFINITION [priority N] "
	    "[apply-to queues|exchanges|all]" },
	{ "policy p '.*'",
	    "v.vhost:2: expected policy NAME PATTERN DEFINITION [priority N] "
	    "[apply-to queues|exchanges|all]" },
	{ "policy p '.*' '{\"dispatch\":\"round-robin\",\"x-dispatch\":\"round-robin\"}'",
	    "v.vhost:2: policy 'p': dispatch and x-dispatch are the same setting: give one" },
	{ "policy p a '{\"message-ttl\":1}'\npolicy p b '{\"message-ttl\":1}'",
	    "v.vhost:3: policy 'p' already given on line 2" },
};

/* err matches want exactly, or up to a trailing '*'. */
static bool err_is(const char *err, const char *want)
{
	size_t n = strlen(want);

	if (n > 0 && want[n - 1] == '*')
		return strncmp(err, want, n - 1) == 0;
	return strcmp(err, want) == 0;
}

START_TEST(bad_lines_refused)
{
	char err[512];
	struct auth_db *db;

	db = load(bad[_i].line, err, sizeof(err));
	ck_assert_msg(db == NULL, "accepted: %s", bad[_i].line);
	ck_assert_msg(
	    err_is(err, bad[_i].err), "%s\n got: %s\nwant: %s", bad[_i].line, err, bad[_i].err);
}
END_TEST

START_TEST(matching)
{
	struct auth_db *db = load_ok("policy low 'o' '{\"max-length\":1}' priority 1\n"
	                             "policy high '^orders' '{\"max-length\":2}' priority 5\n"
	                             "policy qonly '^q' '{\"max-length\":3}' apply-to queues\n"
	                             "policy xonly '^q' '{\"alternate-exchange\":\"a\"}' "
	                             "apply-to exchanges\n"
	                             "policy tie-b '^tie' '{\"max-length\":4}' priority 2\n"
	                             "policy tie-a '^tie' '{\"max-length\":5}' priority 2\n"
	                             "operator-policy cap 'orders' '{\"max-length\":9}'\n");

	ck_assert_str_eq(match(db, false, AUTH_RES_QUEUE, "orders.new"), "high");
	ck_assert_str_eq(
	    match(db, false, AUTH_RES_QUEUE, "log"), "low"); /* searched, not anchored */
	ck_assert_str_eq(match(db, false, AUTH_RES_QUEUE, "xyz"), "-");
	ck_assert_str_eq(match(db, false, AUTH_RES_QUEUE, "q1"), "qonly");
	ck_assert_str_eq(match(db, false, AUTH_RES_EXCHANGE, "q1"), "xonly");
	ck_assert_str_eq(match(db, false, AUTH_RES_QUEUE, "tie"), "tie-a"); /* the first name */
	ck_assert_str_eq(match(db, true, AUTH_RES_EXCHANGE, "my-orders"), "cap");
	ck_assert_str_eq(match(db, true, AUTH_RES_QUEUE, "q1"), "-");
	ck_assert(auth_policy_match(
	              db, amqp_cstr("nope"), false, AUTH_RES_QUEUE, amqp_cstr("orders")) == NULL);
	auth_db_unref(db);
}
END_TEST

START_TEST(merge_with_operator_policy)
{
	struct auth_db *db = load_ok(
	    "policy p '.*' "
	    "'{\"max-length\":10,\"message-ttl\":500,\"dead-letter-exchange\":\"d\"}'\n"
	    "operator-policy o '.*' '{\"max-length\":3,\"message-ttl\":900,\"expires\":5000}'\n");
	const struct auth_policy *p =
	    auth_policy_match(db, amqp_cstr("/"), false, AUTH_RES_QUEUE, amqp_cstr("q"));
	const struct auth_policy *op =
	    auth_policy_match(db, amqp_cstr("/"), true, AUTH_RES_QUEUE, amqp_cstr("q"));
	struct auth_policy_values v;
	char *json;

	auth_policy_merge(p, op, &v);
	ck_assert_uint_eq(v.n[AUTH_PK_MAX_LENGTH], 3);    /* the operator's, smaller */
	ck_assert_uint_eq(v.n[AUTH_PK_MESSAGE_TTL], 500); /* the policy's, smaller */
	ck_assert_uint_eq(v.n[AUTH_PK_EXPIRES], 5000);    /* the operator's alone */
	ck_assert_str_eq(v.s[AUTH_PK_DLX], "d");
	json = auth_policy_merged_json(p, op);
	ck_assert_str_eq(json,
	    "{\"dead-letter-exchange\":\"d\",\"expires\":5000,\"max-length\":3,"
	    "\"message-ttl\":500}");
	free(json);
	json = auth_policy_merged_json(NULL, op);
	ck_assert_str_eq(json, "{\"expires\":5000,\"max-length\":3,\"message-ttl\":900}");
	free(json);
	ck_assert_ptr_null(auth_policy_merged_json(NULL, NULL));
	auth_policy_merge(NULL, NULL, &v);
	ck_assert_uint_eq(v.has, 0);
	auth_db_unref(db);
}
END_TEST

static char report[2048];

static void collect(void *arg, const char *line)
{
	(void)arg;
	strncat(report, line, sizeof(report) - strlen(report) - 2);
	strcat(report, "\n");
}

START_TEST(reload_report)
{
	struct auth_db *a = load_ok("policy keep '.*' '{\"max-length\":1}'\n"
	                            "policy change '.*' '{\"max-length\":1}'\n"
	                            "policy gone '.*' '{\"max-length\":1}'\n");
	struct auth_db *b = load_ok("policy keep '.*' '{ \"max-length\" : 1 }'\n"
	                            "policy change '.*' '{\"max-length\":2}' priority 1\n"
	                            "operator-policy new 'x' '{\"expires\":10}' apply-to queues\n");

	report[0] = '\0';
	ck_assert_uint_eq(auth_db_diff(a, b, collect, NULL), 3);
	ck_assert_str_eq(report,
	    "vhost '/': policy 'change' changed: pattern '.*' apply-to all priority 1 "
	    "{\"max-length\":2}\n"
	    "vhost '/': policy 'gone' removed\n"
	    "vhost '/': operator policy 'new' added: pattern 'x' apply-to queues priority 0 "
	    "{\"expires\":10}\n");
	ck_assert(!auth_vhost_policies_equal(a, b, amqp_cstr("/")));
	ck_assert(auth_vhost_policies_equal(a, a, amqp_cstr("/")));
	ck_assert(auth_vhost_policies_equal(NULL, NULL, amqp_cstr("/")));
	ck_assert(!auth_vhost_policies_equal(NULL, a, amqp_cstr("/")));
	auth_db_unref(a);
	auth_db_unref(b);
}
END_TEST

/* The edit writes a line the parser reads back the same; a second set replaces it in place. */
START_TEST(edit_set_and_remove)
{
	char dir[] = "/tmp/check-policy-XXXXXX", path[200], users[64], vdir[64], err[512];
	const char *head = "# the vhost\nvhost /\n# policies\n";
	struct auth_edit *e;
	struct auth_db *db;
	struct auth_policy_info pi;
	bool created;
	size_t vi;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(users, sizeof(users), "%s/users", dir);
	snprintf(vdir, sizeof(vdir), "%s/vhosts", dir);
	snprintf(path, sizeof(path), "%s/default.vhost", vdir);
	ck_assert_int_eq(mkdir(vdir, 0700), 0);
	f = fopen(users, "w");
	fputs(users_file, f);
	fclose(f);
	f = fopen(path, "w");
	fputs(head, f);
	fclose(f);

	ck_assert_int_eq(
	    auth_edit_begin(users, vdir, AUTH_BACKEND_INTERNAL, &e, err, sizeof(err)), AUTH_OK);
	ck_assert_int_eq(
	    auth_edit_policy_set(e, amqp_cstr("/"), false, amqp_cstr("my ttl"), "^a b'c",
	        "{ \"message-ttl\" : 5 }", -3, AUTH_APPLY_QUEUES, &created, err, sizeof(err)),
	    AUTH_OK);
	ck_assert(created);
	ck_assert_int_eq(auth_edit_policy_set(e, amqp_cstr("/"), true, amqp_cstr("cap"), ".*",
	                     "{\"max-length\":7}", 0, AUTH_APPLY_ALL, &created, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(auth_edit_policy_set(e, amqp_cstr("/"), false, amqp_cstr("bad"), ".*",
	                     "{\"overflow\":1}", 0, AUTH_APPLY_ALL, &created, err, sizeof(err)),
	    AUTH_E_CONFIG);
	ck_assert_str_eq(err, "1 is not a valid overflow value");
	ck_assert_int_eq(auth_edit_policy_set(e, amqp_cstr("nope"), false, amqp_cstr("x"), ".*",
	                     "{\"expires\":1}", 0, AUTH_APPLY_ALL, &created, err, sizeof(err)),
	    AUTH_E_NOT_FOUND);
	ck_assert_int_eq(auth_edit_check(e, &db, err, sizeof(err)), AUTH_OK);
	ck_assert(auth_db_vhost_index(db, amqp_cstr("/"), &vi));
	ck_assert(auth_db_policy_at(db, vi, 0, &pi));
	ck_assert(bytes_eq_str(pi.name, "my ttl"));
	ck_assert_str_eq(pi.pattern, "^a b'c");
	ck_assert_str_eq(pi.definition, "{\"message-ttl\":5}");
	ck_assert_int_eq(pi.priority, -3);
	ck_assert_str_eq(pi.apply_to, "queues");
	auth_db_unref(db);
	ck_assert_int_eq(auth_edit_commit(e, err, sizeof(err)), AUTH_OK);
	auth_edit_free(e);
	f = fopen(path, "r");
	{
		char buf[1024];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		ck_assert_str_eq(buf,
		    "# the vhost\nvhost /\n# policies\n"
		    "policy 'my ttl' '^a b''c' {\"message-ttl\":5} priority -3 apply-to queues\n"
		    "operator-policy cap .* {\"max-length\":7} priority 0 apply-to all\n");
	}
	fclose(f);

	/* Changed in place, then removed; the comments stay. */
	ck_assert_int_eq(
	    auth_edit_begin(users, vdir, AUTH_BACKEND_INTERNAL, &e, err, sizeof(err)), AUTH_OK);
	ck_assert_int_eq(auth_edit_policy_set(e, amqp_cstr("/"), false, amqp_cstr("my ttl"), "x",
	                     "{\"message-ttl\":6}", 1, AUTH_APPLY_ALL, &created, err, sizeof(err)),
	    AUTH_OK);
	ck_assert(!created);
	ck_assert_int_eq(
	    auth_edit_policy_remove(e, amqp_cstr("/"), true, amqp_cstr("cap"), err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(
	    auth_edit_policy_remove(e, amqp_cstr("/"), true, amqp_cstr("cap"), err, sizeof(err)),
	    AUTH_E_NOT_FOUND);
	ck_assert_int_eq(
	    auth_edit_policy_remove(e, amqp_cstr("/"), false, amqp_cstr("cap"), err, sizeof(err)),
	    AUTH_E_NOT_FOUND);
	ck_assert_int_eq(auth_edit_check(e, NULL, err, sizeof(err)), AUTH_OK);
	ck_assert_int_eq(auth_edit_commit(e, err, sizeof(err)), AUTH_OK);
	auth_edit_free(e);
	f = fopen(path, "r");
	{
		char buf[1024];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		ck_assert_str_eq(buf,
		    "# the vhost\nvhost /\n# policies\n"
		    "policy 'my ttl' x {\"message-ttl\":6} priority 1 apply-to all\n");
	}
	fclose(f);
	unlink(path);
	unlink(users);
	rmdir(vdir);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, lines_parse);
	tcase_add_test(tc, rabbitmq_keys_accepted);
	tcase_add_loop_test(tc, bad_lines_refused, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, matching);
	tcase_add_test(tc, merge_with_operator_policy);
	tcase_add_test(tc, reload_report);
	tcase_add_test(tc, edit_set_and_remove);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
