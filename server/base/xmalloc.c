/*
 * xmalloc.c: allocation wrappers for the control plane. They abort on failure and check
 * nmemb * size for overflow; message memory is accounted elsewhere against configured limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/base.h"

static void oom(size_t size)
{
	fprintf(stderr, "warrend: out of memory allocating %zu bytes\n", size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size != 0 ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		oom(size);
	return p;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size) {
		fprintf(stderr, "warrend: allocation size overflow\n");
		abort();
	}
	if ((p = realloc(p, nmemb * size != 0 ? nmemb * size : 1)) == NULL)
		oom(nmemb * size);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		oom(strlen(s));
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		oom(n);
	return p;
}

char *xbytesdup(struct amqp_bytes b)
{
	char *p = xmalloc(b.len + 1);

	if (b.len > 0) /* may hold NUL bytes: copy by length, never by strlen */
		memcpy(p, b.ptr, b.len);
	p[b.len] = '\0';
	return p;
}
