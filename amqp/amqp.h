/*
 * amqp.h: Warren's AMQP 0-9-1 wire codec (frames, methods, content headers, field tables).
 *
 * Pure C: no I/O, no libevent, no global state, so the server, the tests and the fuzzers all use it
 * the same way. Decoders never allocate for strings: every string or table they return is a slice
 * (struct amqp_bytes) pointing into the caller's input buffer, valid for as long as that buffer is.
 * Decoding a field table into a tree (amqp_table_decode) allocates from a caller-owned struct
 * amqp_arena. Every function returns 0 or a negative AMQP_E* code; amqp_err_reply_code() maps each
 * decode failure to the reply code a broker must send, amqp_strerror() to text.
 */
#ifndef WARREN_AMQP_H
#define WARREN_AMQP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Frame types, sizes and reply codes (AMQP 0-9-1 section 4.2 and the constants table). */
#define AMQP_FRAME_METHOD 1
#define AMQP_FRAME_HEADER 2
#define AMQP_FRAME_BODY 3
#define AMQP_FRAME_HEARTBEAT 8
#define AMQP_FRAME_END 0xCE
#define AMQP_FRAME_OVERHEAD 8    /* 7-byte header plus the end byte */
#define AMQP_FRAME_MIN_SIZE 4096 /* frame_max before tune, and its lowest legal value */
#define AMQP_PROTOCOL_HEADER_LEN 8

#define AMQP_REPLY_SUCCESS 200
#define AMQP_CONTENT_TOO_LARGE 311
#define AMQP_NO_ROUTE 312
#define AMQP_NO_CONSUMERS 313
#define AMQP_CONNECTION_FORCED 320
#define AMQP_INVALID_PATH 402
#define AMQP_ACCESS_REFUSED 403
#define AMQP_NOT_FOUND 404
#define AMQP_RESOURCE_LOCKED 405
#define AMQP_PRECONDITION_FAILED 406
#define AMQP_FRAME_ERROR 501
#define AMQP_SYNTAX_ERROR 502
#define AMQP_COMMAND_INVALID 503
#define AMQP_CHANNEL_ERROR 504
#define AMQP_UNEXPECTED_FRAME 505
#define AMQP_RESOURCE_ERROR 506
#define AMQP_NOT_ALLOWED 530
#define AMQP_NOT_IMPLEMENTED 540
#define AMQP_INTERNAL_ERROR 541

/* True for reply codes that close only a channel (soft errors). */
bool amqp_reply_is_soft(int reply_code);
/* The reply code's name as RabbitMQ spells it in reply-text ("NOT_FOUND"), or "UNKNOWN". */
const char *amqp_reply_name(int reply_code);

/* Error codes returned by the codec (0 is success). */
enum amqp_err {
	AMQP_OK = 0,
	AMQP_E_NEED_MORE = -1,        /* input ends before the item does: feed more bytes */
	AMQP_E_FRAME_END = -2,        /* frame end byte is not 0xCE */
	AMQP_E_FRAME_TYPE = -3,       /* unknown frame type */
	AMQP_E_FRAME_SIZE = -4,       /* frame larger than the negotiated frame_max */
	AMQP_E_TRUNCATED = -5,        /* a field runs past the end of its frame or table */
	AMQP_E_TRAILING = -6,         /* bytes left over after the last field */
	AMQP_E_UNKNOWN_METHOD = -7,   /* class or method id not in the method table */
	AMQP_E_FIELD_TYPE = -8,       /* unknown field-value type letter */
	AMQP_E_TABLE_DEPTH = -9,      /* tables or arrays nested deeper than AMQP_TABLE_MAX_DEPTH */
	AMQP_E_TABLE_SIZE = -10,      /* more entries than AMQP_TABLE_MAX_ENTRIES */
	AMQP_E_SHORTSTR = -11,        /* a short string longer than 255 bytes (encoding) */
	AMQP_E_NO_SPACE = -12,        /* output buffer too small (encoding) */
	AMQP_E_PROTOCOL_HEADER = -13, /* not "AMQP\0\0\x09\x01" */
	AMQP_E_PROPERTY_FLAGS = -14,  /* reserved property flag set, or unknown class */
	AMQP_E_BAD_HEADER = -15,      /* content header malformed (class or weight) */
	AMQP_E_UNEXPECTED_FRAME =
	    -16,                /* frame kind not legal at this point of a content sequence */
	AMQP_E_BODY_SIZE = -17, /* body frames exceed the size the header declared */
	AMQP_E_CHANNEL = -18,   /* frame on a channel where its kind is not allowed */
	AMQP_E_NOMEM = -19,     /* pool allocation failed */
	AMQP_E_INVALID = -20,   /* invalid argument from the caller (encoding) */
};

const char *amqp_strerror(int err);
/* The reply code a broker sends when decoding failed with err (501, 502, 503 or 505). */
int amqp_err_reply_code(int err);

/* A slice of bytes: a string, a binary or an encoded table. Never NUL-terminated by the codec. */
struct amqp_bytes {
	const uint8_t *ptr;
	size_t len;
};
#define AMQP_BYTES(s) ((struct amqp_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })
struct amqp_bytes amqp_cstr(const char *s);
bool amqp_bytes_eq(struct amqp_bytes a, struct amqp_bytes b);
bool amqp_bytes_eq_cstr(struct amqp_bytes a, const char *s);

/*
 * ---- Big-endian integers ----
 * The one definition of the byte order AMQP numbers travel in. The caller has checked that the
 * bytes are there: a decoder reads through amqp/'s bounds-checked cursor, which calls these.
 * server/'s store records use them too.
 */
static inline uint16_t amqp_load_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t amqp_load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t amqp_load_u64(const uint8_t *p)
{
	return (uint64_t)amqp_load_u32(p) << 32 | amqp_load_u32(p + 4);
}

static inline void amqp_store_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void amqp_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void amqp_store_u64(uint8_t *p, uint64_t v)
{
	amqp_store_u32(p, (uint32_t)(v >> 32));
	amqp_store_u32(p + 4, (uint32_t)v);
}

/* ---- Frames (frame.c) ---- */

struct amqp_frame {
	uint8_t type;
	uint16_t channel;
	uint32_t size;          /* payload length */
	const uint8_t *payload; /* into the caller's buffer */
};

/*
 * Parse one frame from buf. On 0, *frame points into buf and *consumed is the frame's total size.
 * AMQP_E_NEED_MORE: *consumed is the total the frame needs (0 if the 7-byte header is incomplete),
 * known after its header arrives and checked against frame_max first, so a caller can reserve it.
 * frame_max counts the whole frame, as in connection.tune; 0 means AMQP_FRAME_MIN_SIZE.
 */
int amqp_frame_parse(
    const uint8_t *buf, size_t len, uint32_t frame_max, struct amqp_frame *frame, size_t *consumed);
/*
 * Check an 8-byte protocol header, 0-9-1's or 0-9's ("AMQP\1\1\0\x09", served as 0-9-1, as RabbitMQ
 * does): 0, AMQP_E_NEED_MORE (a valid prefix) or AMQP_E_PROTOCOL_HEADER.
 */
int amqp_protocol_header_check(const uint8_t *buf, size_t len);
extern const uint8_t amqp_protocol_header[AMQP_PROTOCOL_HEADER_LEN];

/* Write a frame's 7-byte header / end byte around a payload the caller encoded at buf + 7. */
void amqp_frame_put_header(uint8_t *buf, uint8_t type, uint16_t channel, uint32_t size);
#define AMQP_FRAME_HEADER_LEN 7
/* Write a whole frame. Returns its length or AMQP_E_NO_SPACE. */
int amqp_frame_encode(
    uint8_t *buf, size_t cap, uint8_t type, uint16_t channel, const void *payload, uint32_t size);
/* The 8-byte heartbeat frame. */
extern const uint8_t amqp_heartbeat_frame[AMQP_FRAME_OVERHEAD];

/*
 * Incremental splitter: feed a byte stream in chunks of any size and get whole frames out,
 * exactly as amqp_frame_parse would cut the stream in one piece. It buffers at most one frame
 * (at most frame_max bytes), allocating only after the frame's header has passed the size check.
 */
struct amqp_splitter {
	uint32_t frame_max;
	uint8_t *buf;
	size_t cap, have, need;
	bool expect_protocol_header; /* server side: the stream starts with "AMQP\0\0\x09\x01" */
	bool ready;                  /* buf holds a frame returned by the last call */
	int error;                   /* sticky: once set, every feed returns it */
};
void amqp_splitter_init(struct amqp_splitter *s, uint32_t frame_max, bool expect_protocol_header);
void amqp_splitter_free(struct amqp_splitter *s);
/*
 * Consume bytes from data until one frame is complete (returns 1 and fills *frame, valid until the
 * next call), the input is used up (returns 0), or an error (negative). *used says how much of data
 * was consumed; call again with the rest. A protocol header, when expected, is consumed silently.
 */
int amqp_splitter_feed(struct amqp_splitter *s, const uint8_t *data, size_t len, size_t *used,
    struct amqp_frame *frame);

/* ---- Field tables (table.c) ---- */

#define AMQP_TABLE_MAX_DEPTH 32      /* nesting of tables and arrays */
#define AMQP_TABLE_MAX_ENTRIES 65536 /* entries and array items in one decoded tree */

/* RabbitMQ's field-value type letters (the errata in the spec XML's header comment). */
enum amqp_field_type {
	AMQP_FIELD_BOOL = 't',
	AMQP_FIELD_I8 = 'b',
	AMQP_FIELD_U8 = 'B',
	AMQP_FIELD_I16 = 's',
	AMQP_FIELD_U16 = 'u',
	AMQP_FIELD_I32 = 'I',
	AMQP_FIELD_U32 = 'i',
	AMQP_FIELD_I64 = 'l',
	AMQP_FIELD_FLOAT = 'f',
	AMQP_FIELD_DOUBLE = 'd',
	AMQP_FIELD_DECIMAL = 'D',
	AMQP_FIELD_LONGSTR = 'S',
	AMQP_FIELD_BYTES = 'x',
	AMQP_FIELD_ARRAY = 'A',
	AMQP_FIELD_TIMESTAMP = 'T',
	AMQP_FIELD_TABLE = 'F',
	AMQP_FIELD_VOID = 'V',
};

struct amqp_field_value;
struct amqp_table_entry;

struct amqp_table {
	uint32_t n;
	struct amqp_table_entry *entries;
};
struct amqp_array {
	uint32_t n;
	struct amqp_field_value *values;
};
struct amqp_decimal {
	uint8_t scale;
	uint32_t value;
};
struct amqp_field_value {
	uint8_t type; /* enum amqp_field_type */
	union {
		bool b;
		int8_t i8;
		uint8_t u8;
		int16_t i16;
		uint16_t u16;
		int32_t i32;
		uint32_t u32;
		int64_t i64;
		uint64_t u64; /* timestamp */
		float f;
		double d;
		struct amqp_decimal dec;
		struct amqp_bytes bytes; /* longstr and byte array */
		struct amqp_table table;
		struct amqp_array array;
	} v;
};
struct amqp_table_entry {
	struct amqp_bytes key;
	struct amqp_field_value value;
};

/* A bump allocator for decoded trees: amqp_arena_reset() frees everything at once. */
struct amqp_arena_block;
struct amqp_arena {
	struct amqp_arena_block *head;
	size_t used; /* bytes handed out, for limits */
};
void amqp_arena_init(struct amqp_arena *p);
void *amqp_arena_alloc(struct amqp_arena *p, size_t size);
void amqp_arena_reset(struct amqp_arena *p);

/* Check that raw (the bytes inside a table's 4-byte length) is a well-formed table, within limits. */
int amqp_table_validate(struct amqp_bytes raw);
/* Decode raw (the bytes inside the length) into a tree from pool; strings point into raw. */
int amqp_table_decode(struct amqp_bytes raw, struct amqp_arena *pool, struct amqp_table *out);
/* Encode a table with its 4-byte length prefix at buf. Returns bytes written or a negative code. */
int amqp_table_encode(const struct amqp_table *t, uint8_t *buf, size_t cap);
/* The encoded size of t including its length prefix, or a negative code (shortstr keys > 255). */
long amqp_table_encoded_size(const struct amqp_table *t);
/* Find a key in a decoded table; NULL when absent. Of duplicate keys the first wins, as in RabbitMQ. */
const struct amqp_field_value *amqp_table_get(const struct amqp_table *t, const char *key);
/*
 * The same in raw (a table's entries, inside its length) without decoding or allocating: 0 with
 * *value the encoded value (its type letter, then its bytes; a nested table or array is not
 * looked into), or -1 when absent or when raw ends or goes wrong before the key is found.
 */
int amqp_table_find_raw(struct amqp_bytes raw, const char *key, struct amqp_bytes *value);
/* Deep equality of two values (RabbitMQ compares arguments this way on redeclare). */
bool amqp_field_value_eq(const struct amqp_field_value *a, const struct amqp_field_value *b);
bool amqp_table_eq(const struct amqp_table *a, const struct amqp_table *b);

/* ---- Methods (method.c), generated from methods.def ---- */

enum amqp_field_kind {
	AMQP_F_BIT,
	AMQP_F_OCTET,
	AMQP_F_SHORT,
	AMQP_F_LONG,
	AMQP_F_LONGLONG,
	AMQP_F_SHORTSTR,
	AMQP_F_LONGSTR,
	AMQP_F_TABLE,
	AMQP_F_TIMESTAMP
};

#define AMQP_CTYPE_BIT bool
#define AMQP_CTYPE_OCTET uint8_t
#define AMQP_CTYPE_SHORT uint16_t
#define AMQP_CTYPE_LONG uint32_t
#define AMQP_CTYPE_LONGLONG uint64_t
#define AMQP_CTYPE_TIMESTAMP uint64_t
#define AMQP_CTYPE_SHORTSTR struct amqp_bytes
#define AMQP_CTYPE_LONGSTR struct amqp_bytes
#define AMQP_CTYPE_TABLE struct amqp_bytes /* encoded entries, without the length; validated */

#define AMQP_MF_CONTENT 0x1 /* a content header and body frames follow */
#define AMQP_MF_SYNC 0x2    /* the peer answers with an -ok */
#define AMQP_MF_CLIENT 0x4  /* a client may send it */
#define AMQP_MF_SERVER 0x8  /* a server may send it */

#define AMQP_METHOD_ID(class_id, method_id) (((uint32_t)(class_id) << 16) | (uint32_t)(method_id))

/* One struct per method: struct amqp_connection_start, struct amqp_basic_publish, ... */
#define F(type, name, wire) AMQP_CTYPE_##type name;
#define METHOD(cls, m, wire, cid, mid, flags, fields) \
	struct amqp_##cls##_##m {                     \
		char unused_;                         \
		fields                                \
	};
#include "amqp/methods.def"
#undef METHOD
#undef F

/* Method ids as constants: AMQP_CONNECTION_START = 0x000A000A, ... */
#define METHOD(cls, m, wire, cid, mid, flags, fields) \
	AMQP_ID_##cls##_##m = AMQP_METHOD_ID(cid, mid),
enum amqp_method_id {
#include "amqp/methods.def"
};
#undef METHOD

/*
 * Each method's place in methods.def (and in amqp_methods[]), for tables indexed by method:
 * AMQP_IDX_basic_publish, ...
 */
#define METHOD(cls, m, wire, cid, mid, flags, fields) AMQP_IDX_##cls##_##m,
enum amqp_method_index {
#include "amqp/methods.def"
	AMQP_NMETHODS
};
#undef METHOD

struct amqp_method {
	uint32_t id; /* enum amqp_method_id */
	union {
#define METHOD(cls, m, wire, cid, mid, flags, fields) struct amqp_##cls##_##m cls##_##m;
#include "amqp/methods.def"
#undef METHOD
	} u;
};

/* The table's description of one method and its fields, for generic code and tests. */
struct amqp_field_desc {
	uint8_t kind;     /* enum amqp_field_kind */
	const char *name; /* as on the wire: "routing-key" */
};
struct amqp_method_desc {
	uint32_t id;
	uint16_t class_id, method_id;
	uint8_t flags;
	const char *name; /* "basic.publish" */
	const struct amqp_field_desc *fields;
	uint8_t nfields;
};
extern const struct amqp_method_desc amqp_methods[];
extern const size_t amqp_nmethods;
const struct amqp_method_desc *amqp_method_lookup(uint32_t id);
const char *amqp_method_str(uint32_t id); /* "basic.publish", or "unknown" */
bool amqp_method_carries_content(uint32_t id);
/* The method's AMQP_MF_* flags, or -1 for an unknown id. */
int amqp_method_flags(uint32_t id);
/* The method's enum amqp_method_index, or -1 for an unknown id. */
int amqp_method_index(uint32_t id);
uint16_t amqp_method_class(uint32_t id);

/*
 * Decode a method frame's payload. Strings and tables in *m point into payload. Tables are checked
 * with amqp_table_validate. Errors: AMQP_E_TRUNCATED / AMQP_E_TRAILING (501), AMQP_E_UNKNOWN_METHOD
 * (503), table errors (501/502).
 */
int amqp_method_decode(const uint8_t *payload, size_t len, struct amqp_method *m);
/* Encode a method's payload (class id, method id, fields). Returns bytes written or negative. */
int amqp_method_encode(const struct amqp_method *m, uint8_t *buf, size_t cap);
/* The frame of a basic.deliver, as amqp_method_frame_encode writes it, only faster. */
int amqp_deliver_frame_encode(
    uint16_t channel, const struct amqp_basic_deliver *d, uint8_t *buf, size_t cap);
/* Encode a whole method frame on channel. Returns bytes written or negative. */
int amqp_method_frame_encode(
    uint16_t channel, const struct amqp_method *m, uint8_t *buf, size_t cap);

/* ---- Content headers (props.c) ---- */

#define AMQP_BASIC_CLASS 60

/* Property flag bits for class basic, in wire order. */
#define AMQP_P_CONTENT_TYPE (1u << 15)
#define AMQP_P_CONTENT_ENCODING (1u << 14)
#define AMQP_P_HEADERS (1u << 13)
#define AMQP_P_DELIVERY_MODE (1u << 12)
#define AMQP_P_PRIORITY (1u << 11)
#define AMQP_P_CORRELATION_ID (1u << 10)
#define AMQP_P_REPLY_TO (1u << 9)
#define AMQP_P_EXPIRATION (1u << 8)
#define AMQP_P_MESSAGE_ID (1u << 7)
#define AMQP_P_TIMESTAMP (1u << 6)
#define AMQP_P_TYPE (1u << 5)
#define AMQP_P_USER_ID (1u << 4)
#define AMQP_P_APP_ID (1u << 3)
#define AMQP_P_CLUSTER_ID (1u << 2)
#define AMQP_P_ALL 0xFFFCu

struct amqp_basic_properties {
	uint16_t flags; /* which of the fields below are present */
	struct amqp_bytes content_type;
	struct amqp_bytes content_encoding;
	struct amqp_bytes headers; /* encoded table entries, validated */
	uint8_t delivery_mode;
	uint8_t priority;
	struct amqp_bytes correlation_id;
	struct amqp_bytes reply_to;
	struct amqp_bytes expiration;
	struct amqp_bytes message_id;
	uint64_t timestamp;
	struct amqp_bytes type;
	struct amqp_bytes user_id;
	struct amqp_bytes app_id;
	struct amqp_bytes cluster_id;
};

struct amqp_content_header {
	uint16_t class_id;
	uint64_t body_size;
	struct amqp_bytes
	    raw_properties; /* flags word and properties, verbatim, to forward unchanged */
	struct amqp_basic_properties props;
};

/* Decode a content header frame's payload. */
int amqp_content_header_decode(const uint8_t *payload, size_t len, struct amqp_content_header *h);
/*
 * The same, faster for a message without properties: then only h->props.flags (0) is set, and
 * no field of h->props may be read whose flag is clear.
 */
int amqp_content_header_check(const uint8_t *payload, size_t len, struct amqp_content_header *h);
/* Decode only the property list (flags word onward) of class basic. */
int amqp_properties_decode(const uint8_t *buf, size_t len, struct amqp_basic_properties *p);
/* Encode the property list (flags word onward). Returns bytes written or negative. */
int amqp_properties_encode(const struct amqp_basic_properties *p, uint8_t *buf, size_t cap);
/* Encode a content header payload: class, weight, body size and raw (already-encoded) properties. */
int amqp_content_header_encode(uint16_t class_id, uint64_t body_size,
    struct amqp_bytes raw_properties, uint8_t *buf, size_t cap);

/* ---- Fast-path peeks (peek.c) ---- */

/*
 * What a broker looks at before, or instead of, a full decode: each reads only what it names and
 * checks every length it relies on. A peek that says no leaves the frame to the generic decoders,
 * which report what is wrong with it.
 */
/* The payload size a 7-byte frame header declares (the caller has the 7 bytes). */
uint32_t amqp_peek_frame_size(const uint8_t *hdr);
/* The method id of a method frame, or 0: not a method frame, or shorter than the two ids. */
uint32_t amqp_peek_method_id(const struct amqp_frame *f);
/* The class of a content header's payload, or 0 when it is shorter than the class id. */
uint16_t amqp_peek_header_class(const uint8_t *payload, size_t len);
/*
 * A basic.publish payload that is exactly its fields (ticket, exchange, routing-key, the bits):
 * true, with the strings pointing into payload. False for anything else, with *p undefined.
 */
bool amqp_peek_basic_publish(const uint8_t *payload, size_t len, struct amqp_basic_publish *p);
/* The same for basic.ack (delivery-tag, multiple). */
bool amqp_peek_basic_ack(const uint8_t *payload, size_t len, struct amqp_basic_ack *a);

/* ---- Command assembly (assemble.c) ---- */

/*
 * Per-channel state for the method / header / body sequence of content-carrying methods. The
 * assembler only judges the order and the sizes; the caller keeps the bytes.
 */
enum amqp_asm_state { AMQP_ASM_IDLE, AMQP_ASM_HEADER, AMQP_ASM_BODY };
struct amqp_assembler {
	enum amqp_asm_state state;
	uint16_t class_id;
	uint64_t remaining;
};
enum amqp_asm_event {
	AMQP_ASM_METHOD = 1,     /* a method without content: dispatch it */
	AMQP_ASM_CONTENT_METHOD, /* a method that awaits a header */
	AMQP_ASM_GOT_HEADER,     /* header accepted; body frames follow */
	AMQP_ASM_GOT_BODY,       /* a body fragment; more follow */
	AMQP_ASM_COMPLETE, /* the header (size 0) or the last body fragment completes content */
};
/*
 * Advance the assembler with one frame (method, header or body; never heartbeat). For a header,
 * pass body_size (already decoded); for a method, its id. Returns an event or a negative error:
 * AMQP_E_UNEXPECTED_FRAME (505) or AMQP_E_BODY_SIZE (505), AMQP_E_BAD_HEADER (505 on class mismatch).
 */
int amqp_assembler_step(struct amqp_assembler *a, uint8_t frame_type, uint32_t method_id,
    uint16_t header_class, uint64_t body_size, uint32_t frame_size);

#endif /* WARREN_AMQP_H */
