/*
 * mgmt_list.c: RabbitMQ's list endpoints: the rows an endpoint gathers are filtered by name
 * (`name`, a case-insensitive substring or, with `use_regex=true`, an extended regular
 * expression), sorted (`sort`, a dotted path, and `sort_reverse`; by default the endpoint's own
 * keys), paged (`page`, `page_size` up to 500: RabbitMQ's paged shape) and cut to `columns` (dotted
 * paths). Only the sort keys are kept while gathering; each row's JSON is made again as the stream
 * reaches it (queues and exchanges are looked up by name then, and skipped if gone), and written
 * in chunks of about 64 KiB, each sent once the client has taken the one before.
 *
 * Queues and exchanges come as live objects: their keys are read as C values (struct mgmt_key)
 * without making their JSON, unless a key is only in the JSON (a rate, say); a page is chosen by
 * a bounded heap (the first page*page_size rows, n log k) and only those rows are sorted, kept
 * and rendered, so a page of 100 out of 100,000 queues costs a walk of the queues and 100 rows.
 */
#include <event2/buffer.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/admin/mgmt.h"

#define MAX_PAGE_SIZE 500
#define CHUNK_BYTES 65536
#define MAX_COLUMNS 64
#define MAX_KEYS 4

struct lrow {
	void *row;
	struct mgmt_key key[MAX_KEYS];
	json_t *hold[MAX_KEYS]; /* the JSON values the keys' strings point into */
};

struct mgmt_list {
	const struct mgmt_list_ops *ops;
	struct lrow *rows;
	size_t n, cap, total;
	const char *sort[MAX_KEYS + 1]; /* NULL-terminated */
	char *sort_own;
	bool reverse, paged, use_regex, have_re;
	bool live; /* rows are live objects, not yet owned */
	uint64_t page, page_size;
	const char *name;
	regex_t re;
	char *columns_own;
	const char *columns[MAX_COLUMNS];
	size_t ncolumns;
	size_t next, end; /* streaming: rows [next, end) are left */
	bool first;
};

void mgmt_snapshot_free(void *row)
{
	json_decref(row);
}

json_t *mgmt_snapshot_render(struct mreq *r, void *row)
{
	return json_incref(row);
}

const struct mgmt_list_ops mgmt_snapshot_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "vhost", "name", NULL } };

struct mgmt_list *mgmt_list_new(const struct mgmt_list_ops *ops)
{
	struct mgmt_list *l = xcalloc(1, sizeof(*l));

	l->ops = ops;
	l->first = true;
	return l;
}

void mgmt_list_free(struct mgmt_list *l)
{
	size_t i, k;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		if (l->rows[i].row != NULL && !l->live)
			l->ops->free_row(l->rows[i].row);
		for (k = 0; k < MAX_KEYS; k++) {
			json_decref(l->rows[i].hold[k]);
			free(l->rows[i].key[k].own);
		}
	}
	free(l->rows);
	if (l->have_re)
		regfree(&l->re);
	free(l->sort_own);
	free(l->columns_own);
	free(l);
}

/* The value at a dotted path ("message_stats.publish_details.rate"), borrowed, or NULL. */
static json_t *path_get(json_t *o, const char *path)
{
	char part[256];
	const char *dot;

	while (o != NULL && json_is_object(o)) {
		dot = strchrnul(path, '.');
		if ((size_t)(dot - path) >= sizeof(part))
			return NULL;
		memcpy(part, path, (size_t)(dot - path));
		part[dot - path] = '\0';
		o = json_object_get(o, part);
		if (*dot == '\0')
			return o;
		path = dot + 1;
	}
	return NULL;
}

/* Set value at a dotted path in o, making the objects on the way. */
static void path_set(json_t *o, const char *path, json_t *value)
{
	char part[256];
	const char *dot;
	json_t *sub;

	for (;;) {
		dot = strchrnul(path, '.');
		if ((size_t)(dot - path) >= sizeof(part))
			return;
		memcpy(part, path, (size_t)(dot - path));
		part[dot - path] = '\0';
		if (*dot == '\0') {
			json_object_set(o, part, value);
			return;
		}
		if ((sub = json_object_get(o, part)) == NULL || !json_is_object(sub)) {
			sub = json_object();
			json_object_set_new(o, part, sub);
		}
		o = sub;
		path = dot + 1;
	}
}

static int parse_flag(const char *s, bool *out)
{
	if (s == NULL)
		return 0;
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_num(const char *s, uint64_t *out)
{
	char *end;

	if (s == NULL)
		return 0;
	if (*s < '0' || *s > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return *end == '\0' && *out <= 1000000000 ? 0 : -1;
}

int mgmt_list_begin(struct mgmt_list *l, struct mreq *r)
{
	const char *s, *page = mgmt_query(r, "page"), *ps = mgmt_query(r, "page_size");
	char *p, *save = NULL;
	size_t i;

	if (parse_flag(mgmt_query(r, "sort_reverse"), &l->reverse) != 0 ||
	    parse_flag(mgmt_query(r, "use_regex"), &l->use_regex) != 0) {
		mgmt_error(
		    r, 400, "bad_request", "sort_reverse and use_regex must be true or false");
		return -1;
	}
	l->page = 1;
	l->page_size = 100;
	if (parse_num(page, &l->page) != 0 || parse_num(ps, &l->page_size) != 0) {
		mgmt_error(r, 400, "bad_request", "Pagination parameters are invalid");
		return -1;
	}
	l->paged = page != NULL;
	if (l->paged && (l->page < 1 || l->page_size < 1 || l->page_size > MAX_PAGE_SIZE)) {
		mgmt_error(r, 400, "invalid_pagination_parameters",
		    "Invalid pagination parameters: page number %llu, page size %llu",
		    (unsigned long long)l->page, (unsigned long long)l->page_size);
		return -1;
	}
	if ((s = mgmt_query(r, "name")) != NULL && *s != '\0') {
		l->name = s;
		if (l->use_regex) {
			if (regcomp(&l->re, s, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
				mgmt_error(
				    r, 400, "bad_request", "invalid regular expression in name");
				return -1;
			}
			l->have_re = true;
		}
	}
	if ((s = mgmt_query(r, "sort")) != NULL && *s != '\0') {
		l->sort_own = xstrdup(s);
		l->sort[0] = l->sort_own;
	} else {
		for (i = 0; i < MAX_KEYS && l->ops->default_sort[i] != NULL; i++)
			l->sort[i] = l->ops->default_sort[i];
	}
	if ((s = mgmt_query(r, "columns")) != NULL && *s != '\0') {
		l->columns_own = xstrdup(s);
		for (p = strtok_r(l->columns_own, ",", &save); p != NULL;
		     p = strtok_r(NULL, ",", &save)) {
			if (l->ncolumns == MAX_COLUMNS) {
				mgmt_error(
				    r, 400, "bad_request", "at most %d columns", MAX_COLUMNS);
				return -1;
			}
			l->columns[l->ncolumns++] = p;
		}
	}
	return 0;
}

static bool name_matches(struct mgmt_list *l, const char *name)
{
	if (l->name == NULL)
		return true;
	if (name == NULL)
		return false;
	if (l->have_re)
		return regexec(&l->re, name, 0, NULL, 0) == 0;
	return strcasestr(name, l->name) != NULL;
}

/* The key a JSON value makes. */
static struct mgmt_key json_key(const json_t *v)
{
	struct mgmt_key k = { .type = MK_NONE };

	if (v == NULL)
		return k;
	if (json_is_string(v)) {
		k.type = MK_STR;
		k.s = json_string_value(v);
	} else if (json_is_number(v)) {
		k.type = MK_NUM;
		k.d = json_number_value(v);
	} else if (json_is_boolean(v)) {
		k.type = MK_BOOL;
		k.d = json_is_true(v);
	} else {
		k.type = MK_OTHER;
	}
	return k;
}

bool mgmt_key_str(struct mgmt_key *k, const char *s)
{
	k->type = MK_STR;
	k->s = s;
	return true;
}

bool mgmt_key_own(struct mgmt_key *k, char *s)
{
	k->type = MK_STR;
	k->s = k->own = s;
	return true;
}

bool mgmt_key_num(struct mgmt_key *k, double d, bool flag)
{
	k->type = flag ? MK_BOOL : MK_NUM;
	k->d = d;
	return true;
}

static struct lrow *new_row(struct mgmt_list *l, void *row)
{
	struct lrow *lr;

	if (l->n == l->cap) {
		l->cap = l->cap != 0 ? l->cap * 2 : 64;
		l->rows = xreallocarray(l->rows, l->cap, sizeof(*l->rows));
	}
	lr = &l->rows[l->n++];
	memset(lr, 0, sizeof(*lr));
	lr->row = row;
	return lr;
}

void mgmt_list_add(struct mgmt_list *l, struct mreq *r, void *row, json_t *now)
{
	struct lrow *lr;
	size_t k;

	l->total++;
	if (!name_matches(l, json_string_value(json_object_get(now, "name")))) {
		l->ops->free_row(row);
		return;
	}
	lr = new_row(l, row);
	for (k = 0; k < MAX_KEYS && l->sort[k] != NULL; k++) {
		lr->hold[k] = json_incref(path_get(now, l->sort[k]));
		lr->key[k] = json_key(lr->hold[k]);
	}
}

void mgmt_list_add_live(struct mgmt_list *l, struct mreq *r, const void *obj)
{
	struct mgmt_key name = { .type = MK_NONE };
	json_t *now = NULL;
	struct lrow *lr;
	bool drop;
	size_t k;

	l->live = true;
	l->total++;
	if (l->name != NULL) {
		drop = !l->ops->live_key(obj, "name", &name) || name.type != MK_STR ||
		    !name_matches(l, name.s);
		free(name.own);
		if (drop)
			return;
	}
	lr = new_row(l, (void *)obj);
	for (k = 0; k < MAX_KEYS && l->sort[k] != NULL; k++) {
		if (l->ops->live_key(obj, l->sort[k], &lr->key[k]))
			continue;
		if (now == NULL)
			now = l->ops->live_json(obj);
		lr->hold[k] = json_incref(path_get(now, l->sort[k]));
		lr->key[k] = json_key(lr->hold[k]);
	}
	json_decref(now);
}

static int key_cmp(const struct mgmt_key *a, const struct mgmt_key *b)
{
	if (a->type != b->type)
		return (int)a->type - (int)b->type;
	switch (a->type) {
	case MK_STR: return strcmp(a->s, b->s);
	case MK_NUM:
	case MK_BOOL: return (a->d > b->d) - (a->d < b->d);
	default: return 0;
	}
}

static int row_cmp(const void *pa, const void *pb, void *arg)
{
	const struct lrow *a = pa, *b = pb;
	const struct mgmt_list *l = arg;
	int c = 0;
	size_t k;

	for (k = 0; k < MAX_KEYS && c == 0 && l->sort[k] != NULL; k++)
		c = key_cmp(&a->key[k], &b->key[k]);
	return l->reverse ? -c : c;
}

/* Heap order: the greatest row (by row_cmp) at the top. */
static void sift_down(struct mgmt_list *l, size_t i, size_t n)
{
	struct lrow t;
	size_t c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && row_cmp(&l->rows[c + 1], &l->rows[c], l) > 0)
			c++;
		if (row_cmp(&l->rows[c], &l->rows[i], l) <= 0)
			return;
		t = l->rows[i];
		l->rows[i] = l->rows[c];
		l->rows[c] = t;
		i = c;
	}
}

/*
 * Put the `k` least rows first, in order (the rest in no order): a full sort when k is most of
 * them, else a max-heap of k rows that each other row displaces when it is less than its top.
 */
static void sort_first(struct mgmt_list *l, size_t k)
{
	struct lrow t;
	size_t i;

	if (k == 0)
		return;
	if (k < l->n / 2) {
		for (i = k / 2; i-- > 0;)
			sift_down(l, i, k);
		for (i = k; i < l->n; i++) {
			if (row_cmp(&l->rows[i], &l->rows[0], l) >= 0)
				continue;
			t = l->rows[0];
			l->rows[0] = l->rows[i];
			l->rows[i] = t;
			sift_down(l, 0, k);
		}
	} else {
		k = l->n;
	}
	if (k > 1)
		qsort_r(l->rows, k, sizeof(*l->rows), row_cmp, l);
}

/* The row's JSON cut to the columns asked for. */
static json_t *cut_columns(struct mgmt_list *l, json_t *full)
{
	json_t *out, *v;
	size_t i;

	if (l->ncolumns == 0)
		return full;
	out = json_object();
	for (i = 0; i < l->ncolumns; i++)
		if ((v = path_get(full, l->columns[i])) != NULL)
			path_set(out, l->columns[i], v);
	json_decref(full);
	return out;
}

static void list_more(struct mreq *r);

/* Rows one a line, without the array or the paged object around them (the control socket). */
static bool as_lines(const struct mreq *r)
{
	return r->io != NULL && r->io->lines;
}

static void list_tail(struct mreq *r, struct evbuffer *buf)
{
	struct mgmt_list *l = r->list;
	uint64_t count = l->n;

	if (as_lines(r))
		return;
	if (!l->paged) {
		evbuffer_add(buf, "]", 1);
		return;
	}
	evbuffer_add_printf(buf,
	    "],\"page\":%llu,\"page_count\":%llu,\"page_size\":%llu,"
	    "\"total_count\":%zu}",
	    (unsigned long long)l->page,
	    (unsigned long long)((count + l->page_size - 1) / l->page_size),
	    (unsigned long long)l->page_size, l->total);
}

static void list_more(struct mreq *r)
{
	struct mgmt_list *l = r->list;
	struct evbuffer *buf = evbuffer_new();
	json_t *j;

	while (l->next < l->end && evbuffer_get_length(buf) < CHUNK_BYTES) {
		struct lrow *lr = &l->rows[l->next++];
		j = l->ops->render(r, lr->row);
		l->ops->free_row(lr->row);
		lr->row = NULL;
		if (j == NULL)
			continue; /* gone since the list was gathered */
		j = cut_columns(l, j);
		if (!l->first && !as_lines(r))
			evbuffer_add(buf, ",", 1);
		l->first = false;
		mgmt_dump(j, buf);
		if (as_lines(r))
			evbuffer_add(buf, "\n", 1);
		json_decref(j);
	}
	if (l->next == l->end) {
		list_tail(r, buf);
		mgmt_stream_chunk(r, buf, mgmt_stream_end);
	} else {
		mgmt_stream_chunk(r, buf, list_more);
	}
	evbuffer_free(buf);
}

void mgmt_list_send(struct mgmt_list *l, struct mreq *r)
{
	struct evbuffer *buf;
	uint64_t pages;
	size_t i;

	l->next = 0;
	l->end = l->n;
	if (l->paged) {
		pages = (l->n + l->page_size - 1) / l->page_size;
		if (l->page > pages && !(l->page == 1 && l->n == 0)) {
			mgmt_error(r, 400, "page_out_of_range",
			    "Page out of range, page: %llu page size: %llu, len: %zu",
			    (unsigned long long)l->page, (unsigned long long)l->page_size, l->n);
			mgmt_list_free(l);
			return;
		}
		l->next = (l->page - 1) * l->page_size;
		l->end = l->next + l->page_size < l->n ? l->next + l->page_size : l->n;
	}
	sort_first(l, l->end);
	if (l->live) {
		/* the page's objects become rows the stream finds again; the others are let go */
		for (i = 0; i < l->n; i++)
			l->rows[i].row =
			    i >= l->next && i < l->end ? l->ops->live_own(l->rows[i].row) : NULL;
		l->live = false;
	}
	if (r->method == M_HEAD) {
		mgmt_list_free(l);
		mgmt_reply_empty(r, 200);
		return;
	}
	r->list = l;
	mgmt_stream_start(r);
	buf = evbuffer_new();
	if (l->paged && !as_lines(r))
		evbuffer_add_printf(buf, "{\"filtered_count\":%zu,\"item_count\":%zu,\"items\":[",
		    l->n, l->end - l->next);
	else if (!as_lines(r))
		evbuffer_add(buf, "[", 1);
	mgmt_stream_chunk(r, buf, list_more);
	evbuffer_free(buf);
}
