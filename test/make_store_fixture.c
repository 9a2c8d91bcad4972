/*
 * make_store_fixture.c: writes the fixture store of store_fixture.c in a temporary directory and
 * prints its records ("records") or its store-dump ("dump"): how test/fixtures/store-v2.* were
 * made, and how to see what the present writers make.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "test/store_fixture.h"

int main(int argc, char **argv)
{
	char dir[] = "/tmp/warren-fixture-XXXXXX", err[512], cmd[64];
	int r;

	if (argc != 2 || (strcmp(argv[1], "records") != 0 && strcmp(argv[1], "dump") != 0)) {
		fprintf(stderr, "usage: make-store-fixture records|dump\n");
		return 2;
	}
	if (mkdtemp(dir) == NULL || store_fixture_write(dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "make-store-fixture: %s\n", err);
		return 1;
	}
	r = strcmp(argv[1], "records") == 0 ? store_fixture_records(stdout) : 0;
	persist_close();
	if (strcmp(argv[1], "dump") == 0)
		r = store_fixture_dump(dir, stdout);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		r = -1;
	return r == 0 ? 0 : 1;
}
