/*
 * codec_bench.c: ns per message to decode and re-encode a basic.publish, its content header and a
 * 16-byte body, through the same calls warrend makes (frame parse, method decode, header decode,
 * method encode, header encode). A benchmark, not a test: results go in docs/performance.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp/amqp.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 10000000;
	uint8_t in[512], out[512], props[64];
	struct amqp_method m = { .id = AMQP_ID_basic_publish }, dm;
	struct amqp_basic_properties p = { .flags = AMQP_P_CONTENT_TYPE | AMQP_P_DELIVERY_MODE };
	struct amqp_content_header h;
	struct amqp_frame f;
	size_t n = 0, used;
	int plen, k;
	long i;
	volatile size_t sink = 0;
	double t0, t1;

	/* The input stream: publish, header, body, as a client would send them. */
	m.u.basic_publish.exchange = amqp_cstr("amq.direct");
	m.u.basic_publish.routing_key = amqp_cstr("bench.key");
	p.content_type = amqp_cstr("text/plain");
	p.delivery_mode = 1;
	plen = amqp_properties_encode(&p, props, sizeof(props));
	n += (size_t)amqp_method_frame_encode(1, &m, in, sizeof(in));
	k = amqp_content_header_encode(AMQP_BASIC_CLASS, 16,
	    (struct amqp_bytes){ props, (size_t)plen }, in + n + AMQP_FRAME_HEADER_LEN,
	    sizeof(in) - n - AMQP_FRAME_OVERHEAD);
	amqp_frame_put_header(in + n, AMQP_FRAME_HEADER, 1, (uint32_t)k);
	n += (size_t)k + AMQP_FRAME_OVERHEAD;
	n += (size_t)amqp_frame_encode(
	    in + n, sizeof(in) - n, AMQP_FRAME_BODY, 1, "0123456789abcdef", 16);

	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		size_t off = 0, o = 0;
		/* decode: three frames, the method, the header */
		amqp_frame_parse(in + off, n - off, 131072, &f, &used);
		amqp_method_decode(f.payload, f.size, &dm);
		off += used;
		amqp_frame_parse(in + off, n - off, 131072, &f, &used);
		amqp_content_header_decode(f.payload, f.size, &h);
		off += used;
		amqp_frame_parse(in + off, n - off, 131072, &f, &used);
		/* encode: the method, the header with the properties verbatim, the body */
		o += (size_t)amqp_method_frame_encode(1, &dm, out, sizeof(out));
		k = amqp_content_header_encode(AMQP_BASIC_CLASS, h.body_size, h.raw_properties,
		    out + o + AMQP_FRAME_HEADER_LEN, sizeof(out) - o - AMQP_FRAME_OVERHEAD);
		amqp_frame_put_header(out + o, AMQP_FRAME_HEADER, 1, (uint32_t)k);
		o += (size_t)k + AMQP_FRAME_OVERHEAD;
		o += (size_t)amqp_frame_encode(
		    out + o, sizeof(out) - o, AMQP_FRAME_BODY, 1, f.payload, f.size);
		sink += o + (size_t)out[o - 2];
	}
	t1 = now_ns();
	if (memcmp(in, out, n) != 0) {
		fprintf(stderr, "codec_bench: re-encoded stream differs from the input\n");
		return 1;
	}
	printf("decode+encode of basic.publish + header + 16-byte body: %.1f ns/message (%ld "
	       "iterations)\n",
	    (t1 - t0) / (double)iters, iters);
	return sink == 0;
}
