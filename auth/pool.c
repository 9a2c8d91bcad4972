/*
 * pool.c: the password-check pool. The event loop submits checks (auth_pool_submit copies the
 * credentials); N worker threads take them from a bounded FIFO and run the slow check against
 * the database in force when they start (scrypt, or a round trip to saslauthd for the names that
 * database gives it); each finished check goes on a done list and the
 * pool's file descriptor (an eventfd, or a pipe) becomes readable; the loop then calls
 * auth_pool_complete, which runs the callbacks on its own thread. One mutex guards the lists, the
 * cache and the statistics; it is never held during a check.
 *
 * The success cache maps HMAC-SHA256(secret, user || 0 || password) to the SHA-256 of the stored
 * hash that verified it (or of "saslauthd") and an expiry time, in a 4-way set-associative table (a full set gives up its oldest entry): a hit
 * needs the same credentials, an unexpired entry and the user's current verifier to be the one
 * that said yes, so a password changed by a reload misses. The secret is random per pool, so the table says nothing
 * about passwords to someone who reads memory later. Failures are never cached: a wrong password
 * always costs a full check, whether or not the user exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "auth/auth_private.h"

struct job {
	struct job *next;
	void *opaque;
	uint8_t *msg; /* user, a NUL, password: the HMAC input, wiped before it is freed */
	size_t userlen, msglen;
	uint8_t key[32];
	int result;
	bool cancelled;
	char why[256]; /* why the check could not be made (AUTH_E_UNAVAILABLE) */
};

#define WAYS 4 /* the success cache's slots per set */

struct slot {
	uint8_t key[32];
	uint8_t digest[32];
	uint64_t expires_ms;
	bool used;
};

struct auth_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail; /* waiting for a thread */
	size_t npending;
	struct job **running; /* per thread: the check it is doing, for auth_pool_cancel */
	struct job *done_head, *done_tail;
	struct job *completing; /* what auth_pool_complete has yet to call back */
	bool stopping;
	struct auth_db *db;
	pthread_t *threads;
	unsigned nthreads, started;
	int rfd, wfd; /* the same eventfd twice on Linux */
	uint8_t secret[32];
	struct slot *cache;
	unsigned nsets, nslots, ttl_ms, queue_max;
	bool no_cache;
	struct auth_pool_stats stats;
};

struct worker_arg {
	struct auth_pool *pool;
	unsigned index;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	OPENSSL_cleanse(j->msg, j->msglen);
	free(j->msg);
	free(j);
}

static void signal_fd(struct auth_pool *p)
{
	uint64_t one = 1;
	ssize_t n;

	/* A full pipe or a saturated eventfd is already readable: EAGAIN loses nothing. */
	do
		n = write(p->wfd, &one, p->rfd == p->wfd ? sizeof(one) : 1);
	while (n < 0 && errno == EINTR);
}

/* Append j to the done list (lock held). */
static void push_done(struct auth_pool *p, struct job *j)
{
	j->next = NULL;
	if (p->done_tail != NULL)
		p->done_tail->next = j;
	else
		p->done_head = j;
	p->done_tail = j;
}

/* The cache's set for a key: WAYS slots, so a few logins that hash alike do not evict each other. */
static struct slot *set_for(struct auth_pool *p, const uint8_t key[32])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h)); /* the key is an HMAC: any 8 bytes are uniform */
	return &p->cache[(h % p->nsets) * WAYS];
}

/* Where a success for key goes: its own slot, else a free or expired one, else the oldest. */
static struct slot *slot_to_fill(struct auth_pool *p, const uint8_t key[32], uint64_t now)
{
	struct slot *set = set_for(p, key), *pick = &set[0];
	unsigned w;

	for (w = 0; w < WAYS; w++)
		if (set[w].used && memcmp(set[w].key, key, 32) == 0)
			return &set[w];
	for (w = 0; w < WAYS; w++) {
		if (!set[w].used || set[w].expires_ms <= now)
			return &set[w];
		if (set[w].expires_ms < pick->expires_ms)
			pick = &set[w];
	}
	return pick;
}

/* A cached success for j under the current database? (lock held) */
static bool cache_hit(struct auth_pool *p, const struct job *j)
{
	const struct slot *set, *s = NULL;
	uint8_t digest[32];
	unsigned w;

	if (p->no_cache)
		return false;
	set = set_for(p, j->key);
	for (w = 0; w < WAYS && s == NULL; w++)
		if (set[w].used && CRYPTO_memcmp(set[w].key, j->key, 32) == 0)
			s = &set[w];
	if (s == NULL || now_ms() >= s->expires_ms)
		return false;
	return auth_db_verifier(p->db, (struct amqp_bytes){ j->msg, j->userlen }, digest) &&
	    CRYPTO_memcmp(digest, s->digest, 32) == 0;
}

static void *worker(void *argp)
{
	struct worker_arg *arg = argp;
	struct auth_pool *p = arg->pool;
	unsigned index = arg->index;
	struct auth_credentials c;
	struct auth_db *db;
	struct job *j;
	struct slot *s;
	uint8_t digest[32];
	bool cacheable;
	int r;

	free(arg);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->stopping && p->head == NULL)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		j = p->head;
		if ((p->head = j->next) == NULL)
			p->tail = NULL;
		p->npending--;
		p->running[index] = j;
		db = auth_db_ref(p->db);
		pthread_mutex_unlock(&p->lock);

		c.user = (struct amqp_bytes){ j->msg, j->userlen };
		c.password =
		    (struct amqp_bytes){ j->msg + j->userlen + 1, j->msglen - j->userlen - 1 };
		if (auth_db_uses_saslauthd(db, c.user))
			r = auth_saslauthd_check(&c, j->why, sizeof(j->why));
		else
			r = auth_db_check_password(db, &c);
		cacheable = r == AUTH_OK && auth_db_verifier(db, c.user, digest);

		pthread_mutex_lock(&p->lock);
		p->running[index] = NULL;
		p->stats.verified++;
		if (r != AUTH_OK)
			p->stats.refused++;
		if (cacheable && !p->no_cache) {
			uint64_t now = now_ms();

			s = slot_to_fill(p, j->key, now);
			memcpy(s->key, j->key, 32);
			memcpy(s->digest, digest, 32);
			s->expires_ms = now + p->ttl_ms;
			s->used = true;
		}
		j->result = r;
		OPENSSL_cleanse(j->msg, j->msglen); /* the password is no longer needed */
		push_done(p, j);
		pthread_mutex_unlock(&p->lock);
		signal_fd(p);
		auth_db_unref(db);
	}
}

/* Stop and join the threads started so far. */
static void stop_threads(struct auth_pool *p)
{
	unsigned i;

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	p->started = 0;
}

static int open_fd(struct auth_pool *p)
{
#ifdef __linux__
	if ((p->rfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return AUTH_E_SYSTEM;
	p->wfd = p->rfd;
#else
	int fds[2];

	if (pipe(fds) != 0)
		return AUTH_E_SYSTEM;
	p->rfd = fds[0];
	p->wfd = fds[1];
	fcntl(p->rfd, F_SETFL, fcntl(p->rfd, F_GETFL) | O_NONBLOCK);
	fcntl(p->wfd, F_SETFL, fcntl(p->wfd, F_GETFL) | O_NONBLOCK);
	fcntl(p->rfd, F_SETFD, FD_CLOEXEC);
	fcntl(p->wfd, F_SETFD, FD_CLOEXEC);
#endif
	return AUTH_OK;
}

int auth_pool_new(const struct auth_pool_config *cfg, struct auth_db *db, struct auth_pool **out)
{
	struct auth_pool_config def = { 0 };
	struct auth_pool *p = auth_xcalloc(1, sizeof(*p));
	struct worker_arg *arg;
	sigset_t all, old;
	unsigned i;
	int ret = AUTH_E_SYSTEM;

	*out = NULL;
	if (cfg == NULL)
		cfg = &def;
	p->rfd = p->wfd = -1;
	p->nthreads = cfg->threads != 0 ? cfg->threads : 2;
	p->queue_max = cfg->queue_max != 0 ? cfg->queue_max : 256;
	p->ttl_ms = cfg->cache_ttl_ms != 0 ? cfg->cache_ttl_ms : 60000;
	p->nsets = cfg->cache_slots != 0 ? (cfg->cache_slots + WAYS - 1) / WAYS : 1024 / WAYS;
	p->nslots = p->nsets * WAYS;
	p->no_cache = cfg->no_cache;
	p->cache = auth_xcalloc(p->nslots, sizeof(*p->cache));
	p->threads = auth_xcalloc(p->nthreads, sizeof(*p->threads));
	p->running = auth_xcalloc(p->nthreads, sizeof(*p->running));
	p->db = auth_db_ref(db);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (RAND_bytes(p->secret, sizeof(p->secret)) != 1) {
		ret = AUTH_E_CRYPTO;
		goto out;
	}
	if (open_fd(p) != AUTH_OK)
		goto out;
	/* Workers start with every signal blocked, so signals reach the event loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < p->nthreads; i++) {
		arg = auth_xmalloc(sizeof(*arg));
		*arg = (struct worker_arg){ p, i };
		if ((errno = pthread_create(&p->threads[i], NULL, worker, arg)) != 0) {
			free(arg);
			break;
		}
		p->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->started != p->nthreads)
		goto out;
	*out = p;
	p = NULL;
	ret = AUTH_OK;
out:
	auth_pool_free(p);
	return ret;
}

void auth_pool_set_db(struct auth_pool *p, struct auth_db *db)
{
	struct auth_db *old;

	auth_db_ref(db);
	pthread_mutex_lock(&p->lock);
	old = p->db;
	p->db = db;
	pthread_mutex_unlock(&p->lock);
	auth_db_unref(old);
}

int auth_pool_submit(
    struct auth_pool *p, const struct auth_credentials *c, void *opaque, bool *at_once)
{
	struct job *j = auth_xcalloc(1, sizeof(*j));
	unsigned int keylen = sizeof(j->key);
	bool hit;

	if (at_once != NULL)
		*at_once = false;
	j->opaque = opaque;
	j->userlen = c->user.len;
	j->msglen = c->user.len + 1 + c->password.len;
	j->msg = auth_xmalloc(j->msglen);
	if (c->user.len > 0)
		memcpy(j->msg, c->user.ptr, c->user.len);
	j->msg[c->user.len] = 0;
	if (c->password.len > 0)
		memcpy(j->msg + c->user.len + 1, c->password.ptr, c->password.len);
	if (!p->no_cache &&
	    HMAC(EVP_sha256(), p->secret, sizeof(p->secret), j->msg, j->msglen, j->key, &keylen) ==
	        NULL) {
		job_free(j);
		return AUTH_E_CRYPTO;
	}

	pthread_mutex_lock(&p->lock);
	p->stats.submitted++;
	if ((hit = cache_hit(p, j)) && at_once != NULL) {
		/* The caller takes the answer now: no trip through the descriptor. */
		p->stats.cache_hits++;
		pthread_mutex_unlock(&p->lock);
		job_free(j);
		*at_once = true;
		return AUTH_OK;
	}
	if (hit) {
		p->stats.cache_hits++;
		j->result = AUTH_OK;
		OPENSSL_cleanse(j->msg, j->msglen);
		push_done(p, j);
	} else if (p->npending >= p->queue_max) {
		p->stats.busy++;
		pthread_mutex_unlock(&p->lock);
		job_free(j);
		return AUTH_E_BUSY;
	} else {
		j->next = NULL;
		if (p->tail != NULL)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		p->npending++;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	if (hit)
		signal_fd(p);
	return AUTH_OK;
}

void auth_pool_cancel(struct auth_pool *p, void *opaque)
{
	struct job **jp, *j, *prev = NULL;
	unsigned i;

	pthread_mutex_lock(&p->lock);
	for (jp = &p->head; (j = *jp) != NULL;) {
		if (j->opaque == opaque) {
			*jp = j->next;
			p->npending--;
			job_free(j);
			continue;
		}
		prev = j;
		jp = &j->next;
	}
	p->tail = prev;
	for (i = 0; i < p->nthreads; i++)
		if (p->running[i] != NULL && p->running[i]->opaque == opaque)
			p->running[i]->cancelled = true;
	for (j = p->done_head; j != NULL; j = j->next)
		if (j->opaque == opaque)
			j->cancelled = true;
	/* a callback running now may cancel a check finished in the same batch */
	for (j = p->completing; j != NULL; j = j->next)
		if (j->opaque == opaque)
			j->cancelled = true;
	pthread_mutex_unlock(&p->lock);
}

int auth_pool_fd(const struct auth_pool *p)
{
	return p->rfd;
}

size_t auth_pool_complete(struct auth_pool *p, auth_pool_cb *cb, void *arg)
{
	uint8_t buf[64];
	struct job *j;
	size_t ran = 0;
	ssize_t n;

	/* Drain first: a check finishing after this read signals again. */
	do
		n = read(p->rfd, buf, p->rfd == p->wfd ? 8 : sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
	/* Take the batch; a check that finishes meanwhile waits for the next call. */
	pthread_mutex_lock(&p->lock);
	p->completing = p->done_head;
	p->done_head = p->done_tail = NULL;
	pthread_mutex_unlock(&p->lock);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if ((j = p->completing) != NULL)
			p->completing = j->next;
		pthread_mutex_unlock(&p->lock);
		if (j == NULL)
			break;
		if (!j->cancelled) {
			cb(j->opaque, j->result, j->why, arg);
			ran++;
		}
		job_free(j);
	}
	return ran;
}

void auth_pool_stats(struct auth_pool *p, struct auth_pool_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->stats;
	pthread_mutex_unlock(&p->lock);
}

void auth_pool_free(struct auth_pool *p)
{
	struct job *j, *next;

	if (p == NULL)
		return;
	stop_threads(p);
	for (j = p->head; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	for (j = p->done_head; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	for (j = p->completing; j != NULL; j = next) { /* freed from inside a callback */
		next = j->next;
		job_free(j);
	}
	if (p->rfd >= 0)
		close(p->rfd);
	if (p->wfd >= 0 && p->wfd != p->rfd)
		close(p->wfd);
	OPENSSL_cleanse(p->secret, sizeof(p->secret));
	OPENSSL_cleanse(p->cache, sizeof(*p->cache) * p->nslots);
	free(p->cache);
	free(p->threads);
	free(p->running);
	auth_db_unref(p->db);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
