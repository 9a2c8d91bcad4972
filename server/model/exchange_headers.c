/*
 * exchange_headers.c: matching a message's headers against a headers-exchange binding, as
 * RabbitMQ does: x-match "all" (the default) or "any"; "all-with-x" and "any-with-x" also compare
 * keys that start with "x-", which the plain modes skip. A binding value of type void matches the
 * mere presence of the header; integers compare by value across integer types, and floats likewise.
 */
#include <string.h>

#include "server/model/model.h"

enum vclass { VC_INT, VC_FLOAT, VC_OTHER };

static enum vclass value_class(uint8_t type)
{
	switch (type) {
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8:
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16:
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
	case AMQP_FIELD_I64: return VC_INT;
	case AMQP_FIELD_FLOAT:
	case AMQP_FIELD_DOUBLE: return VC_FLOAT;
	default: return VC_OTHER;
	}
}

/* An integer value widened; signed types keep their sign. */
static bool int_value(const struct amqp_field_value *v, int64_t *out, bool *neg_or_big)
{
	*neg_or_big = false;
	switch (v->type) {
	case AMQP_FIELD_I8: *out = v->v.i8; return true;
	case AMQP_FIELD_U8: *out = v->v.u8; return true;
	case AMQP_FIELD_I16: *out = v->v.i16; return true;
	case AMQP_FIELD_U16: *out = v->v.u16; return true;
	case AMQP_FIELD_I32: *out = v->v.i32; return true;
	case AMQP_FIELD_U32: *out = v->v.u32; return true;
	case AMQP_FIELD_I64: *out = v->v.i64; return true;
	default: return false;
	}
}

static bool values_match(const struct amqp_field_value *p, const struct amqp_field_value *d)
{
	int64_t a, b;
	bool x;
	enum vclass pc = value_class(p->type), dc = value_class(d->type);

	if (p->type == AMQP_FIELD_VOID)
		return true; /* presence only */
	if (pc != dc)
		return false;
	if (pc == VC_INT) {
		int_value(p, &a, &x);
		int_value(d, &b, &x);
		return a == b;
	}
	if (pc == VC_FLOAT) {
		double fa = p->type == AMQP_FIELD_FLOAT ? p->v.f : p->v.d;
		double fb = d->type == AMQP_FIELD_FLOAT ? d->v.f : d->v.d;
		return fa == fb;
	}
	return amqp_field_value_eq(p, d);
}

bool headers_match(const struct amqp_table *binding_args, const struct amqp_table *headers)
{
	const struct amqp_field_value *xm = amqp_table_get(binding_args, "x-match");
	const struct amqp_field_value *d;
	bool any = false, with_x = false, all_ok = true, any_ok = false;
	uint32_t i;

	if (xm != NULL && xm->type == AMQP_FIELD_LONGSTR) {
		if (amqp_bytes_eq_cstr(xm->v.bytes, "any"))
			any = true;
		else if (amqp_bytes_eq_cstr(xm->v.bytes, "any-with-x"))
			any = with_x = true;
		else if (amqp_bytes_eq_cstr(xm->v.bytes, "all-with-x"))
			with_x = true;
	}
	for (i = 0; i < binding_args->n; i++) {
		const struct amqp_table_entry *e = &binding_args->entries[i];
		if (amqp_bytes_eq_cstr(e->key, "x-match"))
			continue;
		if (!with_x && e->key.len >= 2 && memcmp(e->key.ptr, "x-", 2) == 0)
			continue;
		d = NULL;
		for (uint32_t j = 0; j < headers->n; j++) {
			if (amqp_bytes_eq(headers->entries[j].key, e->key)) {
				d = &headers->entries[j].value;
				break;
			}
		}
		if (d != NULL && values_match(&e->value, d))
			any_ok = true;
		else
			all_ok = false;
	}
	return any ? any_ok : all_ok;
}
