/*
 * http.h: the interop tests' HTTP client pieces (interop/http.c).
 */
#ifndef WARREN_INTEROP_HTTP_H
#define WARREN_INTEROP_HTTP_H

/* The answer to one request: the status and the body (de-chunked, NUL-terminated). */
struct http_resp {
	int status;
	char *body;
	char head[2048];
};

/* A connection to 127.0.0.1:port (the test fails if it cannot connect). */
int http_connect(int port);
/* Read until the peer closes, within ms: the bytes read (malloc'd), -1 on a timeout. */
long http_read_all(int fd, char **out, int ms);
/* A chunked body decoded in place. */
void http_dechunk(char *body);
/*
 * Send one request to 127.0.0.1:port as user:pw (Basic), with a JSON body or none: the
 * connection, whose answer is the caller's to read.
 */
int http_send(int port, const char *user, const char *pw, const char *method, const char *path,
    const char *body);
/* One request answered (4 x WAIT_MS at most): its status; its body (malloc'd, de-chunked) in
 * *body_out if body_out is not NULL. */
int http_request(int port, const char *user, const char *pw, const char *method, const char *path,
    const char *body, char **body_out);
/* s in base64 (for Basic credentials; a static buffer, up to 380 bytes of s). */
const char *http_b64(const char *s);

#endif /* WARREN_INTEROP_HTTP_H */
