/*
 * store.c: opening and closing the data directory: its format-version file and the transactional
 * Berkeley DB environment (recovery runs on every open).
 */
#include <db.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"

struct store {
	char *dir;
	DB_ENV *env;
};

/* Check DIR/FORMAT, or write it when the directory is new. */
static int store_check_format(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	FILE *f;
	int version = 0;

	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "warren-store %d", &version) != 1) {
			fclose(f);
			snprintf(err, errlen, "%s: not a Warren format file", path);
			return STORE_E_FORMAT;
		}
		fclose(f);
		if (version != STORE_FORMAT_VERSION) {
			snprintf(err, errlen, "%s: format version %d, this build reads %d", path,
			    version, STORE_FORMAT_VERSION);
			return STORE_E_FORMAT;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return STORE_E_IO;
	}
	if ((f = fopen(path, "w")) == NULL ||
	    fprintf(f, "warren-store %d\n", STORE_FORMAT_VERSION) < 0 || fclose(f) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return STORE_E_IO;
	}
	return 0;
}

struct store *store_open(const char *dir, char *err, size_t errlen)
{
	struct store *st = NULL;
	DB_ENV *env = NULL;
	int r;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (store_check_format(dir, err, errlen) != 0)
		goto out;
	if ((r = db_env_create(&env, 0)) != 0) {
		snprintf(err, errlen, "%s: db_env_create: %s", dir, db_strerror(r));
		goto out;
	}
	r = env->open(env, dir,
	    DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER |
	        DB_THREAD,
	    0600);
	if (r != 0) {
		snprintf(err, errlen, "%s: opening the Berkeley DB environment: %s", dir,
		    db_strerror(r));
		goto out;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		free(st);
		st = NULL;
		goto out;
	}
	st->env = env;
	env = NULL;
out:
	if (env != NULL)
		env->close(env, 0);
	return st;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL)
		st->env->close(st->env, 0);
	free(st->dir);
	free(st);
}

const char *store_dir(const struct store *st)
{
	return st->dir;
}
