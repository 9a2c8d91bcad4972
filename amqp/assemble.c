/*
 * assemble.c: the per-channel order of frames for content-carrying methods: method, then one
 * content header of the same class, then body frames whose sizes add up to the header's body size.
 * Anything else in between is an unexpected frame (505).
 */
#include "amqp/amqp.h"

int amqp_assembler_step(struct amqp_assembler *a, uint8_t frame_type, uint32_t method_id,
    uint16_t header_class, uint64_t body_size, uint32_t frame_size)
{
	switch (a->state) {
	case AMQP_ASM_IDLE:
		if (frame_type != AMQP_FRAME_METHOD)
			return AMQP_E_UNEXPECTED_FRAME;
		if (!amqp_method_carries_content(method_id))
			return AMQP_ASM_METHOD;
		a->state = AMQP_ASM_HEADER;
		a->class_id = amqp_method_class(method_id);
		return AMQP_ASM_CONTENT_METHOD;
	case AMQP_ASM_HEADER:
		if (frame_type != AMQP_FRAME_HEADER)
			return AMQP_E_UNEXPECTED_FRAME;
		if (header_class != a->class_id)
			return AMQP_E_BAD_HEADER;
		if (body_size == 0) {
			a->state = AMQP_ASM_IDLE;
			return AMQP_ASM_COMPLETE;
		}
		a->state = AMQP_ASM_BODY;
		a->remaining = body_size;
		return AMQP_ASM_GOT_HEADER;
	case AMQP_ASM_BODY:
		if (frame_type != AMQP_FRAME_BODY)
			return AMQP_E_UNEXPECTED_FRAME;
		if (frame_size > a->remaining)
			return AMQP_E_BODY_SIZE;
		a->remaining -= frame_size;
		if (a->remaining == 0) {
			a->state = AMQP_ASM_IDLE;
			return AMQP_ASM_COMPLETE;
		}
		return AMQP_ASM_GOT_BODY;
	}
	return AMQP_E_UNEXPECTED_FRAME;
}
