/*
 * hmap.c: a chained hash map from byte strings to pointers. Keys are not copied: each key must
 * stay valid while its entry is in the map (it normally lives in the value, e.g. a queue's name).
 */
#include <stdlib.h>
#include <string.h>

#include "server/base/base.h"

struct hmap_entry {
	struct hmap_entry *next;
	const void *key;
	size_t klen;
	uint64_t hash;
	void *value;
};

/* FNV-1a, 64-bit: short keys (names, routing keys) dominate. */
uint64_t hmap_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void hmap_init(struct hmap *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

void hmap_clear(struct hmap *m)
{
	struct hmap_entry *e, *next;
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->buckets);
	hmap_init(m);
}

static void hmap_grow(struct hmap *m)
{
	size_t n = m->nbuckets != 0 ? m->nbuckets * 2 : 8, i;
	struct hmap_entry **nb = xcalloc(n, sizeof(*nb)), *e, *next;

	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->nbuckets = n;
}

static struct hmap_entry **hmap_slot(const struct hmap *m, const void *key, size_t klen, uint64_t h)
{
	struct hmap_entry **ep;

	if (m->nbuckets == 0)
		return NULL;
	for (ep = &m->buckets[h & (m->nbuckets - 1)]; *ep != NULL; ep = &(*ep)->next)
		if ((*ep)->hash == h && (*ep)->klen == klen && memcmp((*ep)->key, key, klen) == 0)
			return ep;
	return NULL;
}

void *hmap_get(const struct hmap *m, const void *key, size_t klen)
{
	struct hmap_entry **ep = hmap_slot(m, key, klen, hmap_hash(key, klen));

	return ep != NULL ? (*ep)->value : NULL;
}

void hmap_put(struct hmap *m, const void *key, size_t klen, void *value)
{
	uint64_t h = hmap_hash(key, klen);
	struct hmap_entry **ep = hmap_slot(m, key, klen, h), *e;

	if (ep != NULL) {
		(*ep)->key = key;
		(*ep)->value = value;
		return;
	}
	if (m->count >= m->nbuckets) /* load factor 1 */
		hmap_grow(m);
	e = xmalloc(sizeof(*e));
	e->key = key;
	e->klen = klen;
	e->hash = h;
	e->value = value;
	e->next = m->buckets[h & (m->nbuckets - 1)];
	m->buckets[h & (m->nbuckets - 1)] = e;
	m->count++;
}

void *hmap_del(struct hmap *m, const void *key, size_t klen)
{
	struct hmap_entry **ep = hmap_slot(m, key, klen, hmap_hash(key, klen)), *e;
	void *v;

	if (ep == NULL)
		return NULL;
	e = *ep;
	*ep = e->next;
	v = e->value;
	free(e);
	m->count--;
	return v;
}

void hmap_iter_init(const struct hmap *m, struct hmap_iter *it)
{
	it->m = m;
	it->bucket = 0;
	it->next = NULL;
}

bool hmap_iter_next(struct hmap_iter *it, const void **key, size_t *klen, void **value)
{
	struct hmap_entry *e = it->next;

	while (e == NULL) {
		if (it->bucket >= it->m->nbuckets)
			return false;
		e = it->m->buckets[it->bucket++];
	}
	it->next = e->next;
	if (key != NULL)
		*key = e->key;
	if (klen != NULL)
		*klen = e->klen;
	if (value != NULL)
		*value = e->value;
	return true;
}

bool hmap_walk_step(
    const struct hmap *m, struct hmap_walk *w, void (*fn)(void *value, void *arg), void *arg)
{
	struct hmap_entry *e, *next;
	size_t b;

	if (w->n0 == 0 && !w->done) {
		w->n0 = m->nbuckets;
		w->r = 0;
	}
	if (w->done || w->r >= w->n0) {
		w->done = true;
		return false;
	}
	/* The map only grows, doubling: bucket r of n0 is now buckets r, r + n0, r + 2 n0, ... */
	for (b = w->r; b < m->nbuckets; b += w->n0)
		for (e = m->buckets[b]; e != NULL; e = next) {
			next = e->next;
			fn(e->value, arg);
		}
	w->r++;
	return true;
}
