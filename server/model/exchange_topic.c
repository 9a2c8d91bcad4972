/*
 * exchange_topic.c: the topic exchange's trie. A pattern is split on '.' into words (empty words
 * included, and "" as no words, as RabbitMQ does); each word is an edge, with `*` matching exactly one word and `#`
 * zero or more. Matching a key walks only the edges its words select, so its cost follows the
 * key's length and the patterns that can match, not the number of bindings.
 */
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

struct topic_node {
	struct topic_node *parent;
	char *word; /* the edge from parent; NULL at the root */
	size_t word_len;
	struct hmap children; /* literal words */
	struct topic_node *star, *hash;
	struct topic_binding *bindings; /* patterns that end here */
	size_t nchildren;               /* literal children plus star and hash */
};

struct topic_binding {
	struct topic_binding *next, *prev;
	struct topic_node *node;
	void *dest;
};

struct topic_trie {
	struct topic_node root;
};

struct topic_trie *topic_trie_new(void)
{
	struct topic_trie *t = xcalloc(1, sizeof(*t));

	hmap_init(&t->root.children);
	return t;
}

static void node_free(struct topic_node *n, bool self)
{
	struct hmap_iter it;
	struct topic_binding *b, *next;
	void *child;

	hmap_iter_init(&n->children, &it);
	while (hmap_iter_next(&it, NULL, NULL, &child))
		node_free(child, true);
	hmap_clear(&n->children);
	if (n->star != NULL)
		node_free(n->star, true);
	if (n->hash != NULL)
		node_free(n->hash, true);
	for (b = n->bindings; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(n->word);
	if (self)
		free(n);
}

void topic_trie_free(struct topic_trie *t)
{
	if (t == NULL)
		return;
	node_free(&t->root, false);
	free(t);
}

static struct topic_node *node_child(struct topic_node *n, const uint8_t *w, size_t len)
{
	struct topic_node *c;

	if (len == 1 && w[0] == '*') {
		if (n->star == NULL) {
			n->star = xcalloc(1, sizeof(*c));
			n->star->parent = n;
			n->star->word = xstrdup("*");
			n->star->word_len = 1;
			hmap_init(&n->star->children);
			n->nchildren++;
		}
		return n->star;
	}
	if (len == 1 && w[0] == '#') {
		if (n->hash == NULL) {
			n->hash = xcalloc(1, sizeof(*c));
			n->hash->parent = n;
			n->hash->word = xstrdup("#");
			n->hash->word_len = 1;
			hmap_init(&n->hash->children);
			n->nchildren++;
		}
		return n->hash;
	}
	if ((c = hmap_get(&n->children, w, len)) != NULL)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->parent = n;
	c->word = xbytesdup((struct amqp_bytes){ w, len }); /* a word may hold NUL bytes */
	c->word_len = len;
	hmap_init(&c->children);
	hmap_put(&n->children, c->word, c->word_len, c);
	n->nchildren++;
	return c;
}

struct topic_binding *topic_trie_add(struct topic_trie *t, struct amqp_bytes pattern, void *dest)
{
	struct topic_node *n = &t->root;
	struct topic_binding *b;
	size_t start = 0, i;

	/* As RabbitMQ splits them, "" is no words at all, and "a." is "a" and an empty word. */
	for (i = 0; pattern.len > 0 && i <= pattern.len; i++) {
		if (i == pattern.len || pattern.ptr[i] == '.') {
			n = node_child(n, pattern.ptr + start, i - start);
			start = i + 1;
		}
	}
	b = xcalloc(1, sizeof(*b));
	b->node = n;
	b->dest = dest;
	b->next = n->bindings;
	if (n->bindings != NULL)
		n->bindings->prev = b;
	n->bindings = b;
	return b;
}

void topic_trie_remove(struct topic_trie *t, struct topic_binding *b)
{
	struct topic_node *n = b->node, *parent;

	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		n->bindings = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	free(b);
	/* Prune nodes left with neither bindings nor children. */
	while (n != &t->root && n->bindings == NULL && n->nchildren == 0) {
		parent = n->parent;
		if (parent->star == n)
			parent->star = NULL;
		else if (parent->hash == n)
			parent->hash = NULL;
		else
			hmap_del(&parent->children, n->word, n->word_len);
		parent->nchildren--;
		hmap_clear(&n->children);
		free(n->word);
		free(n);
		n = parent;
	}
}

struct match {
	struct amqp_bytes *words;
	size_t nwords;
	void (*fn)(void *dest, void *arg);
	void *arg;
};

static void match_node(const struct topic_node *n, size_t i, const struct match *m)
{
	const struct topic_binding *b;
	const struct topic_node *c;
	size_t j;

	if (n->hash != NULL) /* '#' takes zero or more of the remaining words */
		for (j = i; j <= m->nwords; j++)
			match_node(n->hash, j, m);
	if (i == m->nwords) {
		for (b = n->bindings; b != NULL; b = b->next)
			m->fn(b->dest, m->arg);
		return;
	}
	if ((c = hmap_get(&n->children, m->words[i].ptr, m->words[i].len)) != NULL)
		match_node(c, i + 1, m);
	if (n->star != NULL)
		match_node(n->star, i + 1, m);
}

void topic_trie_match(
    struct topic_trie *t, struct amqp_bytes key, void (*fn)(void *dest, void *arg), void *arg)
{
	struct amqp_bytes stackwords[32], *words = stackwords;
	size_t n = key.len > 0, i, start = 0, k = 0;
	struct match m;

	for (i = 0; i < key.len; i++)
		n += key.ptr[i] == '.';
	if (n > sizeof(stackwords) / sizeof(stackwords[0]))
		words = xreallocarray(NULL, n, sizeof(*words));
	for (i = 0; key.len > 0 && i <= key.len; i++) {
		if (i == key.len || key.ptr[i] == '.') {
			words[k].ptr = key.ptr + start;
			words[k].len = i - start;
			k++;
			start = i + 1;
		}
	}
	m = (struct match){ words, n, fn, arg };
	match_node(&t->root, 0, &m);
	if (words != stackwords)
		free(words);
}
