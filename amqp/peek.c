/*
 * peek.c: the fast-path readers a broker runs on every message: a frame's declared size from its
 * header, a method frame's id, a content header's class, and basic.publish and basic.ack read
 * without clearing and filling a whole struct amqp_method. Each reads through the same cursor as
 * the decoders; a peek that says no leaves the frame to them, and they say what is wrong with it.
 */
#include "amqp/wire.h"

uint32_t amqp_peek_frame_size(const uint8_t *hdr)
{
	return amqp_load_u32(hdr + 3); /* type (1), channel (2), then the size */
}

uint32_t amqp_peek_method_id(const struct amqp_frame *f)
{
	struct cursor c = cursor_make(f->payload, f->size);
	uint32_t id;

	if (f->type != AMQP_FRAME_METHOD || get_u32(&c, &id) != 0) /* class and method ids */
		return 0;
	return id;
}

uint16_t amqp_peek_header_class(const uint8_t *payload, size_t len)
{
	struct cursor c = cursor_make(payload, len);
	uint16_t cls;

	return get_u16(&c, &cls) == 0 ? cls : 0;
}

bool amqp_peek_basic_publish(const uint8_t *payload, size_t len, struct amqp_basic_publish *p)
{
	struct cursor c = cursor_make(payload, len);
	uint32_t id;
	uint8_t bits;

	if (get_u32(&c, &id) != 0 || id != AMQP_ID_basic_publish || get_u16(&c, &p->ticket) != 0 ||
	    get_shortstr(&c, &p->exchange) != 0 || get_shortstr(&c, &p->routing_key) != 0 ||
	    get_u8(&c, &bits) != 0 || cursor_left(&c) != 0) /* nothing may follow the bits */
		return false;
	p->mandatory = bits & 1;
	p->immediate = (bits >> 1) & 1;
	return true;
}

bool amqp_peek_basic_ack(const uint8_t *payload, size_t len, struct amqp_basic_ack *a)
{
	struct cursor c = cursor_make(payload, len);
	uint32_t id;
	uint8_t bits;

	if (get_u32(&c, &id) != 0 || id != AMQP_ID_basic_ack ||
	    get_u64(&c, &a->delivery_tag) != 0 || get_u8(&c, &bits) != 0 || cursor_left(&c) != 0)
		return false;
	a->multiple = bits & 1;
	return true;
}
