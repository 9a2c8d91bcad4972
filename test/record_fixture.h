/*
 * record_fixture.h: the record fixtures (test/fixtures/store-v2.records, store-v3.records: one
 * "TABLE KEY VALUE" line a record, hex) as check_store and check_records read them, and which
 * decoder reads each record. Static inline, as check_util.h: each suite is one program. FIXTURE_DIR
 * comes from the build.
 */
#ifndef WARREN_TEST_RECORD_FIXTURE_H
#define WARREN_TEST_RECORD_FIXTURE_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/persist/persist_private.h"

/* Bytes from hex, into out (at most cap); returns the length. */
static inline size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	if (strcmp(s, "-") == 0)
		return 0;
	while (s[0] != '\0' && s[1] != '\0') {
		ck_assert_uint_lt(n, cap);
		ck_assert_int_eq(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

enum rtype {
	R_EXCHANGE,
	R_QUEUE,
	R_BINDING,
	R_MESSAGE,
	R_REFS,
	R_ENTRY,
	R_DELIVERED,
	R_DEAD,
	R_SEGMENT
};

/* Which decoder reads a fixture record, by table and key. */
static inline enum rtype fixture_type(const char *table, const uint8_t *k, size_t klen)
{
	if (strcmp(table, "defs") == 0)
		return record_def_kind(k, klen) == 'x' ? R_EXCHANGE
		    : record_def_kind(k, klen) == 'q'  ? R_QUEUE
		                                       : R_BINDING;
	if (strcmp(table, "msgs") == 0)
		return R_MESSAGE;
	if (strcmp(table, "refs") == 0)
		return R_REFS;
	if (strcmp(table, "entries") == 0)
		return R_ENTRY;
	if (strcmp(table, "meta") == 0)
		return record_meta_kind(k, klen) == META_DELIVERED ? R_DELIVERED : R_DEAD;
	ck_assert_str_eq(table, "scratch");
	return R_SEGMENT;
}

struct frecord {
	char table[16];
	enum rtype type;
	uint8_t k[256], v[2048];
	size_t klen, vlen;
};

/*
 * The records of test/fixtures/NAME: store-v2.records (written by the code before the codec, store
 * format 2) or store-v3.records (format 3: entries that hold their message).
 */
static inline size_t load_fixture(const char *name, struct frecord *out, size_t cap)
{
	static char line[8192], ks[1024], vs[6000];
	char path[512];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		ck_assert_uint_lt(n, cap);
		ck_assert_int_eq(sscanf(line, "%15s %1023s %5999s", out[n].table, ks, vs), 3);
		out[n].klen = unhex(ks, out[n].k, sizeof(out[n].k));
		out[n].vlen = unhex(vs, out[n].v, sizeof(out[n].v));
		out[n].type = fixture_type(out[n].table, out[n].k, out[n].klen);
		n++;
	}
	fclose(f);
	return n;
}

#endif /* WARREN_TEST_RECORD_FIXTURE_H */
