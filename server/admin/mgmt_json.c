/*
 * mgmt_json.c: JSON for the management API: lenient reading of request fields (RabbitMQ and
 * rabbitmqadmin send booleans and numbers as strings too), AMQP field tables to and from JSON
 * objects (nesting bounded by the codec's AMQP_TABLE_MAX_DEPTH), byte strings that need not be
 * UTF-8, and counters with their rates.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "server/admin/mgmt.h"

int mgmt_json_bool(const json_t *o, const char *key, bool dflt, bool *out)
{
	const json_t *v = o != NULL ? json_object_get(o, key) : NULL;

	*out = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0) {
		*out = true;
		return 0;
	}
	if (json_is_string(v) && strcmp(json_string_value(v), "false") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

int mgmt_json_uint(const json_t *o, const char *key, uint64_t dflt, uint64_t max, uint64_t *out)
{
	const json_t *v = o != NULL ? json_object_get(o, key) : NULL;
	const char *s;
	char *end;
	unsigned long long n;

	*out = dflt;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
			return -1;
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (*s < '0' || *s > '9')
		return -1;
	n = strtoull(s, &end, 10);
	if (*end != '\0' || n > max)
		return -1;
	*out = n;
	return 0;
}

const char *mgmt_json_str(const json_t *o, const char *key, const char *dflt)
{
	const json_t *v = o != NULL ? json_object_get(o, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : dflt;
}

/* ---- Tables ---- */

static int value_from_json(const json_t *j, struct amqp_arena *pool, struct amqp_field_value *v,
    int depth, char *err, size_t errlen);

static int table_from_json(const json_t *o, struct amqp_arena *pool, struct amqp_table *t,
    int depth, char *err, size_t errlen)
{
	const char *key;
	json_t *val;
	size_t i = 0;

	if (depth > AMQP_TABLE_MAX_DEPTH) {
		snprintf(
		    err, errlen, "arguments nested deeper than %d levels", AMQP_TABLE_MAX_DEPTH);
		return -1;
	}
	t->n = (uint32_t)json_object_size(o);
	t->entries = amqp_arena_alloc(pool, (t->n > 0 ? t->n : 1) * sizeof(*t->entries));
	json_object_foreach((json_t *)o, key, val)
	{
		if (strlen(key) > 255) {
			snprintf(err, errlen, "argument name longer than 255 bytes");
			return -1;
		}
		t->entries[i].key = amqp_cstr(key);
		if (value_from_json(val, pool, &t->entries[i].value, depth, err, errlen) != 0)
			return -1;
		i++;
	}
	return 0;
}

static int value_from_json(const json_t *j, struct amqp_arena *pool, struct amqp_field_value *v,
    int depth, char *err, size_t errlen)
{
	size_t i;

	switch (json_typeof(j)) {
	case JSON_STRING:
		v->type = AMQP_FIELD_LONGSTR;
		v->v.bytes = (struct amqp_bytes){ (const uint8_t *)json_string_value(j),
			json_string_length(j) };
		return 0;
	case JSON_INTEGER:
		v->type = AMQP_FIELD_I64;
		v->v.i64 = (int64_t)json_integer_value(j);
		return 0;
	case JSON_REAL:
		v->type = AMQP_FIELD_DOUBLE;
		v->v.d = json_real_value(j);
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		v->type = AMQP_FIELD_BOOL;
		v->v.b = json_is_true(j);
		return 0;
	case JSON_NULL: v->type = AMQP_FIELD_VOID; return 0;
	case JSON_OBJECT:
		v->type = AMQP_FIELD_TABLE;
		return table_from_json(j, pool, &v->v.table, depth + 1, err, errlen);
	case JSON_ARRAY:
		if (depth + 1 > AMQP_TABLE_MAX_DEPTH) {
			snprintf(err, errlen, "arguments nested deeper than %d levels",
			    AMQP_TABLE_MAX_DEPTH);
			return -1;
		}
		v->type = AMQP_FIELD_ARRAY;
		v->v.array.n = (uint32_t)json_array_size(j);
		v->v.array.values = amqp_arena_alloc(
		    pool, (v->v.array.n > 0 ? v->v.array.n : 1) * sizeof(*v->v.array.values));
		for (i = 0; i < v->v.array.n; i++)
			if (value_from_json(json_array_get(j, i), pool, &v->v.array.values[i],
			        depth + 1, err, errlen) != 0)
				return -1;
		return 0;
	}
	snprintf(err, errlen, "unsupported JSON value");
	return -1;
}

int mgmt_json_to_table(const json_t *o, struct evbuffer *out, char *err, size_t errlen)
{
	struct amqp_arena pool;
	struct amqp_table t;
	uint8_t *buf = NULL;
	long size;
	int ret = -1;

	amqp_arena_init(&pool);
	if (o != NULL && !json_is_null(o) && !json_is_object(o)) {
		snprintf(err, errlen, "arguments must be an object");
		goto out;
	}
	if (o == NULL || json_is_null(o)) {
		ret = 0;
		goto out;
	}
	if (table_from_json(o, &pool, &t, 1, err, errlen) != 0)
		goto out;
	if ((size = amqp_table_encoded_size(&t)) < 0) {
		snprintf(err, errlen, "arguments cannot be encoded as an AMQP table");
		goto out;
	}
	buf = xmalloc((size_t)size);
	if (amqp_table_encode(&t, buf, (size_t)size) != size) {
		snprintf(err, errlen, "arguments cannot be encoded as an AMQP table");
		goto out;
	}
	evbuffer_add(out, buf + 4, (size_t)size - 4); /* the entries, without their length */
	ret = 0;
out:
	free(buf);
	amqp_arena_reset(&pool);
	return ret;
}

json_t *mgmt_bytes(const void *p, size_t len)
{
	json_t *j = json_stringn(p, len);
	char *fixed;
	size_t i, n = 0;

	if (j != NULL)
		return j;
	/* Not UTF-8 (or a NUL inside): bytes above 0x7f become U+FFFD, NUL becomes '?'. */
	fixed = xmalloc(len * 3 + 1);
	for (i = 0; i < len; i++) {
		uint8_t c = ((const uint8_t *)p)[i];
		if (c == 0) {
			fixed[n++] = '?';
		} else if (c < 0x80) {
			fixed[n++] = (char)c;
		} else {
			memcpy(fixed + n, "\xef\xbf\xbd", 3);
			n += 3;
		}
	}
	j = json_stringn(fixed, n);
	free(fixed);
	return j;
}

static json_t *value_to_json(const struct amqp_field_value *v)
{
	json_t *a;
	uint32_t i;

	switch (v->type) {
	case AMQP_FIELD_BOOL: return json_boolean(v->v.b);
	case AMQP_FIELD_I8: return json_integer(v->v.i8);
	case AMQP_FIELD_U8: return json_integer(v->v.u8);
	case AMQP_FIELD_I16: return json_integer(v->v.i16);
	case AMQP_FIELD_U16: return json_integer(v->v.u16);
	case AMQP_FIELD_I32: return json_integer(v->v.i32);
	case AMQP_FIELD_U32: return json_integer(v->v.u32);
	case AMQP_FIELD_I64: return json_integer(v->v.i64);
	case AMQP_FIELD_TIMESTAMP: return json_integer((json_int_t)v->v.u64);
	case AMQP_FIELD_FLOAT: return json_real(v->v.f);
	case AMQP_FIELD_DOUBLE: return json_real(v->v.d);
	case AMQP_FIELD_DECIMAL: {
		double d = v->v.dec.value;
		for (i = 0; i < v->v.dec.scale; i++)
			d /= 10;
		return json_real(d);
	}
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES: return mgmt_bytes(v->v.bytes.ptr, v->v.bytes.len);
	case AMQP_FIELD_ARRAY:
		a = json_array();
		for (i = 0; i < v->v.array.n; i++)
			json_array_append_new(a, value_to_json(&v->v.array.values[i]));
		return a;
	case AMQP_FIELD_TABLE:
		a = json_object();
		for (i = 0; i < v->v.table.n; i++) {
			char *k = xbytesdup(v->v.table.entries[i].key);
			if (json_object_get(a, k) == NULL) /* of duplicates the first wins */
				json_object_set_new(
				    a, k, value_to_json(&v->v.table.entries[i].value));
			free(k);
		}
		return a;
	default: return json_null();
	}
}

json_t *mgmt_table_to_json(struct amqp_bytes raw)
{
	struct amqp_arena pool;
	struct amqp_field_value v = { .type = AMQP_FIELD_TABLE };
	json_t *j;

	if (raw.len == 0)
		return json_object();
	amqp_arena_init(&pool);
	if (amqp_table_decode(raw, &pool, &v.v.table) != 0)
		j = json_object();
	else
		j = value_to_json(&v);
	amqp_arena_reset(&pool);
	return j;
}

/* ---- Counters and rates ---- */

json_t *mgmt_rate(double r)
{
	return json_pack("{s:f}", "rate", r);
}

void mgmt_add_counter(json_t *o, const char *key, uint64_t v, const struct rate_ring *ring)
{
	char dk[64];

	snprintf(dk, sizeof(dk), "%s_details", key);
	json_object_set_new(o, key, json_integer((json_int_t)v));
	json_object_set_new(o, dk, mgmt_rate(ring != NULL ? mgmt_rate_of(ring) : 0.0));
}

uint64_t mgmt_wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static int dump_cb(const char *p, size_t n, void *arg)
{
	return evbuffer_add(arg, p, n);
}

void mgmt_dump(const json_t *j, struct evbuffer *out)
{
	json_dump_callback(j, dump_cb, out, JSON_COMPACT);
}
