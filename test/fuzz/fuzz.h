/*
 * fuzz.h: what the libFuzzer targets in test/fuzz/ share: the entry point's prototype, a check
 * that aborts (so libFuzzer saves the input), and exact-size heap copies so that AddressSanitizer
 * catches any read past the end of what a decoder was given.
 */
#ifndef WARREN_FUZZ_H
#define WARREN_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the failed condition: libFuzzer reports it and writes the input to a crash file. */
#define FUZZ_CHECK(cond)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

/* A heap copy of exactly n bytes (never NULL, even for n == 0); free() it. */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n != 0 ? n : 1);

	FUZZ_CHECK(d != NULL);
	if (n != 0)
		memcpy(d, p, n);
	return d;
}

/* A heap buffer of exactly n bytes (never NULL); free() it. */
static inline uint8_t *fuzz_alloc(size_t n)
{
	uint8_t *d = malloc(n != 0 ? n : 1);

	FUZZ_CHECK(d != NULL);
	return d;
}

/*
 * Chunk sizes for feeding a stream, chosen by the input: a pattern (0-7) and a seed (a byte). Each
 * call gives the next size (zero is allowed: an empty read), at most left.
 */
struct chunker {
	unsigned pattern, seed;
	uint32_t state;
	size_t step;
};

static inline size_t next_chunk(struct chunker *c, size_t left)
{
	size_t n = left;

	c->step++;
	c->state = c->state * 1103515245u + 12345u;
	switch (c->pattern) {
	case 0: n = left; break;                             /* all at once */
	case 1: n = 1; break;                                /* byte by byte */
	case 2: n = c->seed + 1; break;                      /* fixed size */
	case 3: n = (c->state >> 16) % (c->seed + 2); break; /* random, empty reads too */
	case 4: n = c->step % (c->seed + 1) + 1; break;      /* growing sawtooth */
	case 5: n = (c->step & 1) ? AMQP_FRAME_HEADER_LEN : c->seed; break;    /* header-sized */
	case 6: n = (c->state >> 16) % 16 + 1; break;                          /* small random */
	case 7: n = (c->state >> 16) & 1 ? 1 : (c->state >> 20) % 4096; break; /* tiny and big */
	}
	return n < left ? n : left;
}

#endif /* WARREN_FUZZ_H */
