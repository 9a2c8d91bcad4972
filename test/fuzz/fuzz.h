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

static inline uint32_t fuzz_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif /* WARREN_FUZZ_H */
