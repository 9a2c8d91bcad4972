/*
 * frame.c: cutting a byte stream into AMQP frames, with the size checked against frame_max before
 * any buffer is reserved, and the incremental splitter that gives the same frames for any chunking.
 */
#include <stdlib.h>
#include <string.h>

#include "amqp/wire.h"

const uint8_t amqp_protocol_header[AMQP_PROTOCOL_HEADER_LEN] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };
const uint8_t amqp_heartbeat_frame[AMQP_FRAME_OVERHEAD] = { AMQP_FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0,
	AMQP_FRAME_END };

/* AMQP 0-9's header, which RabbitMQ (and so Warren) serves as 0-9-1. */
static const uint8_t protocol_header_0_9[AMQP_PROTOCOL_HEADER_LEN] = { 'A', 'M', 'Q', 'P', 1, 1, 0,
	9 };

int amqp_protocol_header_check(const uint8_t *buf, size_t len)
{
	size_t n = len < AMQP_PROTOCOL_HEADER_LEN ? len : AMQP_PROTOCOL_HEADER_LEN;

	if (memcmp(buf, amqp_protocol_header, n) != 0 && memcmp(buf, protocol_header_0_9, n) != 0)
		return AMQP_E_PROTOCOL_HEADER;
	return n < AMQP_PROTOCOL_HEADER_LEN ? AMQP_E_NEED_MORE : 0;
}

static bool frame_type_known(uint8_t type)
{
	return type == AMQP_FRAME_METHOD || type == AMQP_FRAME_HEADER || type == AMQP_FRAME_BODY ||
	    type == AMQP_FRAME_HEARTBEAT;
}

int amqp_frame_parse(
    const uint8_t *buf, size_t len, uint32_t frame_max, struct amqp_frame *frame, size_t *consumed)
{
	struct cursor c = cursor_make(buf, len);
	uint8_t type;
	uint16_t channel;
	uint32_t size;
	const uint8_t *payload, *end;

	*consumed = 0;
	if (frame_max == 0)
		frame_max = AMQP_FRAME_MIN_SIZE;
	if (len >= 1 && !frame_type_known(buf[0])) /* reject garbage before waiting for more */
		return AMQP_E_FRAME_TYPE;
	if (get_u8(&c, &type) != 0 || get_u16(&c, &channel) != 0 || get_u32(&c, &size) != 0)
		return AMQP_E_NEED_MORE;
	/* The whole frame, header and end byte included, must fit frame_max: check before waiting. */
	if (frame_max < AMQP_FRAME_OVERHEAD || size > frame_max - AMQP_FRAME_OVERHEAD)
		return AMQP_E_FRAME_SIZE;
	*consumed = (size_t)size + AMQP_FRAME_OVERHEAD;
	if (get_bytes(&c, size, &payload) != 0 || get_bytes(&c, 1, &end) != 0)
		return AMQP_E_NEED_MORE;
	if (end[0] != AMQP_FRAME_END)
		return AMQP_E_FRAME_END;
	if (type == AMQP_FRAME_HEARTBEAT && (channel != 0 || size != 0))
		return channel != 0 ? AMQP_E_CHANNEL : AMQP_E_TRAILING;
	frame->type = type;
	frame->channel = channel;
	frame->size = size;
	frame->payload = payload;
	return 0;
}

void amqp_frame_put_header(uint8_t *buf, uint8_t type, uint16_t channel, uint32_t size)
{
	buf[0] = type;
	amqp_store_u16(buf + 1, channel);
	amqp_store_u32(buf + 3, size);
	buf[AMQP_FRAME_HEADER_LEN + size] = AMQP_FRAME_END;
}

int amqp_frame_encode(
    uint8_t *buf, size_t cap, uint8_t type, uint16_t channel, const void *payload, uint32_t size)
{
	if (cap < AMQP_FRAME_OVERHEAD || size > cap - AMQP_FRAME_OVERHEAD)
		return AMQP_E_NO_SPACE;
	if (size > 0)
		memmove(buf + AMQP_FRAME_HEADER_LEN, payload, size);
	amqp_frame_put_header(buf, type, channel, size);
	return (int)(size + AMQP_FRAME_OVERHEAD);
}

void amqp_splitter_init(struct amqp_splitter *s, uint32_t frame_max, bool expect_protocol_header)
{
	memset(s, 0, sizeof(*s));
	s->frame_max = frame_max != 0 ? frame_max : AMQP_FRAME_MIN_SIZE;
	s->expect_protocol_header = expect_protocol_header;
}

void amqp_splitter_free(struct amqp_splitter *s)
{
	free(s->buf);
	s->buf = NULL;
	s->cap = s->have = s->need = 0;
}

/* Grow the buffer to at least n bytes; n has already been checked against frame_max. */
static int splitter_reserve(struct amqp_splitter *s, size_t n)
{
	uint8_t *nb;

	if (n <= s->cap)
		return 0;
	nb = realloc(s->buf, n);
	if (nb == NULL)
		return AMQP_E_NOMEM;
	s->buf = nb;
	s->cap = n;
	return 0;
}

int amqp_splitter_feed(struct amqp_splitter *s, const uint8_t *data, size_t len, size_t *used,
    struct amqp_frame *frame)
{
	size_t take, total;
	int r;

	*used = 0;
	if (s->error != 0)
		return s->error;
	if (s->ready) { /* the previous call returned a frame that lives in buf: drop it now */
		s->have = 0;
		s->ready = false;
	}
	if (s->expect_protocol_header) {
		if ((r = splitter_reserve(s, AMQP_PROTOCOL_HEADER_LEN)) != 0)
			return s->error = r;
		take = AMQP_PROTOCOL_HEADER_LEN - s->have;
		if (take > len)
			take = len;
		if (take > 0) /* an empty read may pass data == NULL */
			memcpy(s->buf + s->have, data, take);
		s->have += take;
		*used += take;
		r = amqp_protocol_header_check(s->buf, s->have);
		if (r == AMQP_E_NEED_MORE)
			return 0;
		if (r != 0)
			return s->error = r;
		s->expect_protocol_header = false;
		s->have = 0;
		data += take;
		len -= take;
	}
	for (;;) {
		/* Before the 7-byte header is in, need is 0: take header bytes one step at a time. */
		if (s->need == 0) {
			if ((r = splitter_reserve(s, AMQP_FRAME_HEADER_LEN)) != 0)
				return s->error = r;
			take = AMQP_FRAME_HEADER_LEN - s->have;
		} else {
			take = s->need - s->have;
		}
		if (take > len)
			take = len;
		if (take > 0) { /* not even data + 0 when data is NULL */
			memcpy(s->buf + s->have, data, take);
			data += take;
		}
		s->have += take;
		*used += take;
		len -= take;
		r = amqp_frame_parse(s->buf, s->have, s->frame_max, frame, &total);
		if (r == 0) {
			s->need = 0; /* the frame stays in buf until the next call */
			s->ready = true;
			return 1;
		}
		if (r != AMQP_E_NEED_MORE)
			return s->error = r;
		if (total != 0 && s->need == 0) {
			if ((r = splitter_reserve(s, total)) != 0)
				return s->error = r;
			s->need = total;
			continue;
		}
		if (len == 0)
			return 0;
	}
}
