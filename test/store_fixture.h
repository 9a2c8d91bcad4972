/*
 * store_fixture.h: a store with every record type, written through the broker's writers (see
 * store_fixture.c), for check_store and test/make-store-fixture.
 */
#ifndef WARREN_TEST_STORE_FIXTURE_H
#define WARREN_TEST_STORE_FIXTURE_H

#include <stddef.h>
#include <stdio.h>

/* Start a broker on a store in dir and write the fixture's records: 0, or -1 with err. */
int store_fixture_write(const char *dir, char *err, size_t errlen);
/* Every record of the open store, one "TABLE KEY VALUE" line each (hex; "-" for no value). */
int store_fixture_records(FILE *out);
/* warrenctl store-dump of the closed store in dir, its disk usage as "-": persist_dump's result. */
int store_fixture_dump(const char *dir, FILE *out);

#endif /* WARREN_TEST_STORE_FIXTURE_H */
