/*
 * props.c: content header frames and the 14 properties of class basic behind their flags word.
 * The decoded properties are slices into the frame; raw_properties keeps the encoded list so the
 * broker can forward it verbatim without re-encoding.
 */
#include <string.h>

#include "amqp/wire.h"

int amqp_properties_decode(const uint8_t *buf, size_t len, struct amqp_basic_properties *p)
{
	struct cursor c = cursor_make(buf, len);
	uint16_t flags, more;
	int r = 0;

	memset(p, 0, sizeof(*p));
	if (get_u16(&c, &flags) != 0)
		return AMQP_E_TRUNCATED;
	/*
	 * Bit 0 continues the flags into another word. Class basic has 14 properties, so a
	 * continuation word may only be all zero, and bit 1 is reserved.
	 */
	if (flags & 0x0002)
		return AMQP_E_PROPERTY_FLAGS;
	more = flags;
	while (more & 0x0001) {
		if (get_u16(&c, &more) != 0)
			return AMQP_E_TRUNCATED;
		if (more & 0xFFFE)
			return AMQP_E_PROPERTY_FLAGS;
	}
	p->flags = flags & AMQP_P_ALL;
#define SHORTSTR_PROP(bit, field)      \
	if (r == 0 && (flags & (bit))) \
		r = get_shortstr(&c, &p->field);
	SHORTSTR_PROP(AMQP_P_CONTENT_TYPE, content_type)
	SHORTSTR_PROP(AMQP_P_CONTENT_ENCODING, content_encoding)
	if (r == 0 && (flags & AMQP_P_HEADERS) && (r = get_longstr(&c, &p->headers)) == 0)
		r = amqp_table_validate(p->headers);
	if (r == 0 && (flags & AMQP_P_DELIVERY_MODE))
		r = get_u8(&c, &p->delivery_mode);
	if (r == 0 && (flags & AMQP_P_PRIORITY))
		r = get_u8(&c, &p->priority);
	SHORTSTR_PROP(AMQP_P_CORRELATION_ID, correlation_id)
	SHORTSTR_PROP(AMQP_P_REPLY_TO, reply_to)
	SHORTSTR_PROP(AMQP_P_EXPIRATION, expiration)
	SHORTSTR_PROP(AMQP_P_MESSAGE_ID, message_id)
	if (r == 0 && (flags & AMQP_P_TIMESTAMP))
		r = get_u64(&c, &p->timestamp);
	SHORTSTR_PROP(AMQP_P_TYPE, type)
	SHORTSTR_PROP(AMQP_P_USER_ID, user_id)
	SHORTSTR_PROP(AMQP_P_APP_ID, app_id)
	SHORTSTR_PROP(AMQP_P_CLUSTER_ID, cluster_id)
#undef SHORTSTR_PROP
	if (r != 0)
		return r;
	if (cursor_left(&c) != 0) /* every byte belongs to a property the flags announced */
		return AMQP_E_TRAILING;
	return 0;
}

int amqp_properties_encode(const struct amqp_basic_properties *p, uint8_t *buf, size_t cap)
{
	struct writer w = writer_make(buf, cap);
	uint16_t flags = p->flags & AMQP_P_ALL;

	put_u16(&w, flags);
	if (flags & AMQP_P_CONTENT_TYPE)
		put_shortstr(&w, p->content_type);
	if (flags & AMQP_P_CONTENT_ENCODING)
		put_shortstr(&w, p->content_encoding);
	if (flags & AMQP_P_HEADERS)
		put_longstr(&w, p->headers);
	if (flags & AMQP_P_DELIVERY_MODE)
		put_u8(&w, p->delivery_mode);
	if (flags & AMQP_P_PRIORITY)
		put_u8(&w, p->priority);
	if (flags & AMQP_P_CORRELATION_ID)
		put_shortstr(&w, p->correlation_id);
	if (flags & AMQP_P_REPLY_TO)
		put_shortstr(&w, p->reply_to);
	if (flags & AMQP_P_EXPIRATION)
		put_shortstr(&w, p->expiration);
	if (flags & AMQP_P_MESSAGE_ID)
		put_shortstr(&w, p->message_id);
	if (flags & AMQP_P_TIMESTAMP)
		put_u64(&w, p->timestamp);
	if (flags & AMQP_P_TYPE)
		put_shortstr(&w, p->type);
	if (flags & AMQP_P_USER_ID)
		put_shortstr(&w, p->user_id);
	if (flags & AMQP_P_APP_ID)
		put_shortstr(&w, p->app_id);
	if (flags & AMQP_P_CLUSTER_ID)
		put_shortstr(&w, p->cluster_id);
	if (w.err != 0)
		return w.err;
	return w.off > INT32_MAX ? AMQP_E_INVALID : (int)w.off;
}

/* A content header's fields up to the properties, which it leaves as raw bytes in h. */
static int content_header_fields(const uint8_t *payload, size_t len, struct amqp_content_header *h)
{
	struct cursor c = cursor_make(payload, len);
	uint16_t weight;

	h->class_id = 0;
	h->body_size = 0;
	h->raw_properties = (struct amqp_bytes){ NULL, 0 };
	if (get_u16(&c, &h->class_id) != 0 || get_u16(&c, &weight) != 0 ||
	    get_u64(&c, &h->body_size) != 0)
		return AMQP_E_TRUNCATED;
	if (weight != 0) /* "The weight field is unused and must be zero." */
		return AMQP_E_BAD_HEADER;
	if (h->class_id != AMQP_BASIC_CLASS) /* only class basic carries content */
		return AMQP_E_BAD_HEADER;
	h->raw_properties.ptr = payload + c.off;
	h->raw_properties.len = cursor_left(&c);
	return 0;
}

int amqp_content_header_decode(const uint8_t *payload, size_t len, struct amqp_content_header *h)
{
	int r = content_header_fields(payload, len, h);

	/* h->props is cleared by amqp_properties_decode. */
	return r != 0
	    ? r
	    : amqp_properties_decode(h->raw_properties.ptr, h->raw_properties.len, &h->props);
}

int amqp_content_header_check(const uint8_t *payload, size_t len, struct amqp_content_header *h)
{
	int r = content_header_fields(payload, len, h);

	if (r != 0)
		return r;
	/* No property at all, the common case: nothing to decode. */
	if (h->raw_properties.len == 2 && h->raw_properties.ptr[0] == 0 &&
	    h->raw_properties.ptr[1] == 0) {
		h->props.flags = 0;
		return 0;
	}
	return amqp_properties_decode(h->raw_properties.ptr, h->raw_properties.len, &h->props);
}

int amqp_content_header_encode(uint16_t class_id, uint64_t body_size,
    struct amqp_bytes raw_properties, uint8_t *buf, size_t cap)
{
	struct writer w = writer_make(buf, cap);

	put_u16(&w, class_id);
	put_u16(&w, 0);
	put_u64(&w, body_size);
	put_raw(&w, raw_properties.ptr, raw_properties.len);
	if (w.err != 0)
		return w.err;
	return w.off > INT32_MAX ? AMQP_E_INVALID : (int)w.off;
}
