/*
 * store.h: Warren's durable store, Berkeley DB behind a narrow interface. It knows nothing of
 * AMQP: it keeps opaque records keyed by ids in a transactional environment in the data directory.
 * The caller owns a struct store from store_open() until store_close().
 */
#ifndef WARREN_STORE_H
#define WARREN_STORE_H

#include <stddef.h>

/* The on-disk format this build reads and writes; recorded in DATA_DIR/FORMAT. */
#define STORE_FORMAT_VERSION 1

enum store_err {
	STORE_OK = 0,
	STORE_E_IO = -1,     /* a file in the data directory could not be read or written */
	STORE_E_FORMAT = -2, /* the data directory has another format version */
	STORE_E_DB = -3,     /* Berkeley DB failed: see the error text */
};

struct store;

/*
 * Open (creating when empty) the store in dir, running recovery. On failure returns NULL and writes
 * a message naming the file and the reason into err.
 */
struct store *store_open(const char *dir, char *err, size_t errlen);
void store_close(struct store *st);
const char *store_dir(const struct store *st);

#endif /* WARREN_STORE_H */
