/*
 * http.c: the interop tests' HTTP client pieces (15-management, 16-management-users,
 * 16-management-limits, 18-policies): a connection to the management API, a request sent as a
 * user, reading an answer to the end, de-chunking, Basic credentials.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/http.h"

int http_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_msg(
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	return fd;
}

/* Read until the peer closes, within ms: the bytes read (malloc'd), -1 on a timeout. */
long http_read_all(int fd, char **out, int ms)
{
	size_t have = 0, cap = 65536;
	char *buf = malloc(cap);
	int64_t deadline = now_ms() + ms;
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			free(buf);
			return -1;
		}
		if (have + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		if ((n = read(fd, buf + have, cap - have - 1)) <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	*out = buf;
	return (long)have;
}

void http_dechunk(char *body)
{
	char *in = body, *out = body, *end;
	unsigned long n;

	for (;;) {
		n = strtoul(in, &end, 16);
		if (end == in || (end = strstr(end, "\r\n")) == NULL || n == 0)
			break;
		in = end + 2;
		memmove(out, in, n);
		out += n;
		in += n + 2;
	}
	*out = '\0';
}

const char *http_b64(const char *s)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static char out[512];
	size_t n = strlen(s), i, o = 0;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16 |
		    (i + 1 < n ? (unsigned char)s[i + 1] << 8 : 0) |
		    (i + 2 < n ? (unsigned char)s[i + 2] : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

int http_send(int port, const char *user, const char *pw, const char *method, const char *path,
    const char *body)
{
	char *req, cred[512];
	int fd = http_connect(port), n;
	size_t off = 0;
	ssize_t w;

	snprintf(cred, sizeof(cred), "%s:%s", user, pw);
	n = asprintf(&req,
	    "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
	    "Authorization: Basic %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s",
	    method, path, http_b64(cred), body != NULL ? strlen(body) : 0,
	    body != NULL ? body : "");
	ck_assert_int_gt(n, 0);
	while (off < (size_t)n && (w = write(fd, req + off, (size_t)n - off)) > 0)
		off += (size_t)w;
	free(req);
	return fd;
}

int http_request(int port, const char *user, const char *pw, const char *method, const char *path,
    const char *body, char **body_out)
{
	int fd = http_send(port, user, pw, method, path, body), status = 0;
	char *all = NULL, *sep;

	ck_assert_msg(http_read_all(fd, &all, 4 * WAIT_MS) >= 0, "%s %s: no answer", method, path);
	close(fd);
	if (sscanf(all, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	if (body_out != NULL) {
		sep = strstr(all, "\r\n\r\n");
		*body_out = strdup(sep != NULL ? sep + 4 : "");
		if (strcasestr(all, "Transfer-Encoding: chunked") != NULL)
			http_dechunk(*body_out);
	}
	free(all);
	return status;
}
