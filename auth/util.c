/*
 * util.c: the small tools the rest of auth/ shares: allocation that aborts on failure (the
 * configuration is control plane; a failed malloc there is not worth a recovery path), byte-string
 * comparison, "FILE:LINE: reason" errors with hostile bytes quoted, a line splitter that refuses
 * NUL bytes and overlong lines, and reading a whole configuration file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_private.h"

static void oom(size_t size)
{
	fprintf(stderr, "auth: out of memory allocating %zu bytes\n", size);
	abort();
}

void *auth_xmalloc(size_t size)
{
	void *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *auth_xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		oom(size);
	return p;
}

void *auth_xreallocarray(void *p, size_t nmemb, size_t size)
{
	void *q;

	if (size != 0 && nmemb > SIZE_MAX / size) /* nmemb * size would wrap */
		oom(SIZE_MAX);
	if ((q = realloc(p, nmemb * size > 0 ? nmemb * size : 1)) == NULL)
		oom(nmemb * size);
	return q;
}

char *auth_xmemdup(const void *p, size_t len)
{
	char *s = auth_xmalloc(len + 1);

	if (len > 0)
		memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

int auth_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	/* An empty slice may have a NULL pointer, which memcmp must not see even for 0 bytes. */
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

void auth_errf(char *err, size_t errlen, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	if (line > 0)
		n = snprintf(err, errlen, "%s:%u: ", file, line);
	else
		n = snprintf(err, errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

const char *auth_quote(const void *p, size_t len, char *out, size_t cap)
{
	const uint8_t *b = p;
	size_t i, at = 0;

	out[0] = '\0';
	for (i = 0; i < len && i < 80; i++) {
		if (at + 5 >= cap) /* room for \xNN and the NUL */
			break;
		if (b[i] >= 0x20 && b[i] < 0x7f)
			out[at++] = (char)b[i];
		else
			at += (size_t)snprintf(out + at, cap - at, "\\x%02x", b[i]);
	}
	if (i < len && at + 4 < cap)
		at += (size_t)snprintf(out + at, cap - at, "...");
	out[at] = '\0';
	return out;
}

bool auth_has_control(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] < 0x20 || b[i] == 0x7f)
			return true;
	return false;
}

void auth_lines_init(struct auth_lines *l, const uint8_t *buf, size_t len)
{
	l->p = buf;
	l->end = buf + len;
	l->line = 0;
}

int auth_lines_next(
    struct auth_lines *l, const uint8_t **s, size_t *n, const char *file, char *err, size_t errlen)
{
	const uint8_t *nl;
	size_t left;

	if (l->p == l->end)
		return 0;
	left = (size_t)(l->end - l->p);
	l->line++;
	nl = memchr(l->p, '\n', left);
	*s = l->p;
	*n = nl != NULL ? (size_t)(nl - l->p) : left;
	l->p = nl != NULL ? nl + 1 : l->end;
	if (*n > AUTH_LINE_MAX) {
		auth_errf(err, errlen, file, l->line, "line longer than %u bytes", AUTH_LINE_MAX);
		return -1;
	}
	if (memchr(*s, '\0', *n) != NULL) {
		auth_errf(err, errlen, file, l->line, "NUL byte in the line");
		return -1;
	}
	return 1;
}

int auth_read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, ret = AUTH_E_CONFIG;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		auth_errf(err, errlen, path, 0, "%s", strerror(errno));
		return AUTH_E_CONFIG;
	}
	if (fstat(fd, &st) != 0) {
		auth_errf(err, errlen, path, 0, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		auth_errf(err, errlen, path, 0, "not a regular file");
		goto out;
	}
	if (st.st_size > (off_t)AUTH_FILE_MAX) {
		auth_errf(err, errlen, path, 0, "larger than %u bytes", AUTH_FILE_MAX);
		goto out;
	}
	buf = auth_xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			auth_errf(err, errlen, path, 0, "%s", strerror(errno));
			goto out;
		}
		if (n == 0) /* it shrank while we read: use what there is */
			break;
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	buf = NULL;
	ret = AUTH_OK;
out:
	free(buf);
	close(fd);
	return ret;
}
