/*
 * error.c: the codec's error texts, the map from decode errors to AMQP reply codes, reply-code
 * names, and the small byte-slice helpers.
 */
#include <string.h>

#include "amqp/amqp.h"

const char *amqp_strerror(int err)
{
	switch (err) {
	case AMQP_OK: return "success";
	case AMQP_E_NEED_MORE: return "incomplete input";
	case AMQP_E_FRAME_END: return "frame end byte is not 0xCE";
	case AMQP_E_FRAME_TYPE: return "unknown frame type";
	case AMQP_E_FRAME_SIZE: return "frame larger than frame_max";
	case AMQP_E_TRUNCATED: return "field runs past the end of its frame";
	case AMQP_E_TRAILING: return "unexpected bytes after the last field";
	case AMQP_E_UNKNOWN_METHOD: return "unknown class or method";
	case AMQP_E_FIELD_TYPE: return "unknown field-value type";
	case AMQP_E_TABLE_DEPTH: return "field tables nested too deeply";
	case AMQP_E_TABLE_SIZE: return "field table has too many entries";
	case AMQP_E_SHORTSTR: return "short string longer than 255 bytes";
	case AMQP_E_NO_SPACE: return "output buffer too small";
	case AMQP_E_PROTOCOL_HEADER: return "bad protocol header";
	case AMQP_E_PROPERTY_FLAGS: return "invalid content header property flags";
	case AMQP_E_BAD_HEADER: return "content header does not match its method";
	case AMQP_E_UNEXPECTED_FRAME: return "unexpected frame";
	case AMQP_E_BODY_SIZE: return "content body larger than the content header declared";
	case AMQP_E_CHANNEL: return "frame not allowed on this channel";
	case AMQP_E_NOMEM: return "out of memory";
	case AMQP_E_INVALID: return "invalid argument";
	default: return "unknown error";
	}
}

int amqp_err_reply_code(int err)
{
	switch (err) {
	case AMQP_E_FRAME_END:
	case AMQP_E_FRAME_TYPE:
	case AMQP_E_FRAME_SIZE:
	case AMQP_E_TRUNCATED:
	case AMQP_E_TRAILING:
	case AMQP_E_PROTOCOL_HEADER:
	case AMQP_E_NEED_MORE: return AMQP_FRAME_ERROR;
	case AMQP_E_FIELD_TYPE:
	case AMQP_E_TABLE_DEPTH:
	case AMQP_E_TABLE_SIZE:
	case AMQP_E_SHORTSTR:
	case AMQP_E_PROPERTY_FLAGS: return AMQP_SYNTAX_ERROR;
	case AMQP_E_UNKNOWN_METHOD: return AMQP_COMMAND_INVALID;
	case AMQP_E_BAD_HEADER:
	case AMQP_E_UNEXPECTED_FRAME:
	case AMQP_E_BODY_SIZE:
	/* A heartbeat off channel 0: 0-9-1 (4.2.7) says 501, RabbitMQ answers 505; clients follow it. */
	case AMQP_E_CHANNEL: return AMQP_UNEXPECTED_FRAME;
	case AMQP_E_NOMEM: return AMQP_RESOURCE_ERROR;
	default: return AMQP_INTERNAL_ERROR;
	}
}

bool amqp_reply_is_soft(int reply_code)
{
	switch (reply_code) {
	case AMQP_CONTENT_TOO_LARGE:
	case AMQP_NO_ROUTE:
	case AMQP_NO_CONSUMERS:
	case AMQP_ACCESS_REFUSED:
	case AMQP_NOT_FOUND:
	case AMQP_RESOURCE_LOCKED:
	case AMQP_PRECONDITION_FAILED: return true;
	default: return false;
	}
}

const char *amqp_reply_name(int reply_code)
{
	switch (reply_code) {
	case AMQP_REPLY_SUCCESS: return "OK";
	case AMQP_CONTENT_TOO_LARGE: return "CONTENT_TOO_LARGE";
	case AMQP_NO_ROUTE: return "NO_ROUTE";
	case AMQP_NO_CONSUMERS: return "NO_CONSUMERS";
	case AMQP_CONNECTION_FORCED: return "CONNECTION_FORCED";
	case AMQP_INVALID_PATH: return "INVALID_PATH";
	case AMQP_ACCESS_REFUSED: return "ACCESS_REFUSED";
	case AMQP_NOT_FOUND: return "NOT_FOUND";
	case AMQP_RESOURCE_LOCKED: return "RESOURCE_LOCKED";
	case AMQP_PRECONDITION_FAILED: return "PRECONDITION_FAILED";
	case AMQP_FRAME_ERROR: return "FRAME_ERROR";
	case AMQP_SYNTAX_ERROR: return "SYNTAX_ERROR";
	case AMQP_COMMAND_INVALID: return "COMMAND_INVALID";
	case AMQP_CHANNEL_ERROR: return "CHANNEL_ERROR";
	case AMQP_UNEXPECTED_FRAME: return "UNEXPECTED_FRAME";
	case AMQP_RESOURCE_ERROR: return "RESOURCE_ERROR";
	case AMQP_NOT_ALLOWED: return "NOT_ALLOWED";
	case AMQP_NOT_IMPLEMENTED: return "NOT_IMPLEMENTED";
	case AMQP_INTERNAL_ERROR: return "INTERNAL_ERROR";
	default: return "UNKNOWN";
	}
}

struct amqp_bytes amqp_cstr(const char *s)
{
	return (struct amqp_bytes){ (const uint8_t *)s, s != NULL ? strlen(s) : 0 };
}

bool amqp_bytes_eq(struct amqp_bytes a, struct amqp_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool amqp_bytes_eq_cstr(struct amqp_bytes a, const char *s)
{
	return amqp_bytes_eq(a, amqp_cstr(s));
}
