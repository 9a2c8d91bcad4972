/*
 * mgmt_edit.c: the management API's writes to the users file and the vhost files, which stay the
 * truth (docs/management.md). One worker thread, started at the first write, takes jobs in the
 * order they came: it loads the files as they are on disk (auth_edit_begin), runs the job's edit
 * (which may hash a password: scrypt is slow, and never runs on the loop), checks the edited set
 * as a reload will parse it, and writes the changed files atomically (auth_edit_commit: temporary
 * file, fsync, rename, fsync of the directory). It hands the job back through an eventfd; on the
 * loop, a job that changed a file reloads exactly as `warrenctl reload` does (reload_run), then
 * its done callback answers. One thread, one job at a time: two writes never edit the same file
 * at once, and each sees the files the one before left.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server/admin/mgmt.h"

struct edit_job {
	struct edit_job *next;
	struct mreq *r; /* a reference, or NULL (a job without a request) */
	mgmt_edit_fn *fn;
	mgmt_edit_done_fn *done;
	void *arg;
	void (*free_arg)(void *arg);
	int rc;
	bool changed;
	char err[1024];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct edit_job *todo, *todo_tail, *done, *done_tail;
	bool started, stopping;
	pthread_t thread;
	int efd;
	struct event *ev;
} E = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .efd = -1 };

/* Run one job on the worker thread. */
static void run(struct edit_job *j)
{
	const struct broker_config *cfg = &broker.cfg;
	struct auth_edit *e = NULL;

	j->rc = auth_edit_begin(
	    cfg->users_file, cfg->vhost_dir, cfg->password_backend, &e, j->err, sizeof(j->err));
	if (j->rc == AUTH_OK)
		j->rc = j->fn(e, j->arg, j->err, sizeof(j->err));
	if (j->rc == AUTH_OK && auth_edit_changed(e)) {
		j->rc = auth_edit_check(e, NULL, j->err, sizeof(j->err));
		if (j->rc == AUTH_OK) {
			j->rc = auth_edit_commit(e, j->err, sizeof(j->err));
			/* Even a commit that failed half way may have changed a file: reload. */
			j->changed = true;
		}
	}
	auth_edit_free(e);
}

static void *worker(void *unused)
{
	struct edit_job *j;
	uint64_t one = 1;

	pthread_mutex_lock(&E.lock);
	for (;;) {
		while (E.todo == NULL && !E.stopping)
			pthread_cond_wait(&E.cond, &E.lock);
		if (E.todo == NULL)
			break;
		j = E.todo;
		E.todo = j->next;
		if (E.todo == NULL)
			E.todo_tail = NULL;
		pthread_mutex_unlock(&E.lock);
		run(j);
		pthread_mutex_lock(&E.lock);
		j->next = NULL;
		if (E.done_tail != NULL)
			E.done_tail->next = j;
		else
			E.done = j;
		E.done_tail = j;
		if (write(E.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_error("management: cannot wake the loop: %m");
	}
	pthread_mutex_unlock(&E.lock);
	return NULL;
}

static void job_free(struct edit_job *j)
{
	if (j->free_arg != NULL)
		j->free_arg(j->arg);
	if (j->r != NULL)
		mgmt_unref(j->r);
	free(j);
}

/* On the loop: jobs are back. Reload after each that changed a file, then answer. */
static void done_cb(evutil_socket_t fd, short what, void *unused)
{
	struct edit_job *list, *j;
	struct evbuffer *report;
	uint64_t n;

	if (read(E.efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("management: reading the edit eventfd: %m");
	pthread_mutex_lock(&E.lock);
	list = E.done;
	E.done = E.done_tail = NULL;
	pthread_mutex_unlock(&E.lock);
	while ((j = list) != NULL) {
		list = j->next;
		if (j->changed) {
			report = evbuffer_new();
			if (reload_run(report) != 0 && j->rc == AUTH_OK) {
				j->rc = AUTH_E_CONFIG;
				snprintf(j->err, sizeof(j->err),
				    "the files were written, but the reload "
				    "was refused (see the log)");
			}
			evbuffer_free(report);
		}
		if (j->done != NULL)
			j->done(j->r, j->rc, j->err, j->arg);
		job_free(j);
	}
}

static int start(void)
{
	if (E.started)
		return 0;
	if ((E.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -1;
	E.ev = event_new(broker.base, E.efd, EV_READ | EV_PERSIST, done_cb, NULL);
	event_add(E.ev, NULL);
	E.stopping = false;
	if (pthread_create(&E.thread, NULL, worker, NULL) != 0) {
		event_free(E.ev);
		E.ev = NULL;
		close(E.efd);
		E.efd = -1;
		return -1;
	}
	E.started = true;
	return 0;
}

bool mgmt_files_writable(struct mreq *r)
{
	if (broker.cfg.users_file != NULL)
		return true;
	mgmt_error(r, 405, "method_not_allowed",
	    "warrend runs with the built-in guest user (no users_file in warren.conf): users, "
	    "vhosts and permissions come from the users_file and vhost_dir files, so set "
	    "users_file (and vhost_dir) to change them through the API");
	return false;
}

void mgmt_edit_submit(struct mreq *r, mgmt_edit_fn *fn, mgmt_edit_done_fn *done, void *arg,
    void (*free_arg)(void *arg))
{
	struct edit_job *j = xcalloc(1, sizeof(*j));

	j->fn = fn;
	j->done = done;
	j->arg = arg;
	j->free_arg = free_arg;
	if (r != NULL) {
		j->r = r;
		mgmt_ref(r);
	}
	if (start() != 0) {
		j->rc = AUTH_E_SYSTEM;
		snprintf(
		    j->err, sizeof(j->err), "cannot start the file writer: %s", strerror(errno));
		if (done != NULL)
			done(j->r, j->rc, j->err, j->arg);
		job_free(j);
		return;
	}
	pthread_mutex_lock(&E.lock);
	if (E.todo_tail != NULL)
		E.todo_tail->next = j;
	else
		E.todo = j;
	E.todo_tail = j;
	pthread_cond_signal(&E.cond);
	pthread_mutex_unlock(&E.lock);
}

void mgmt_edit_stop(void)
{
	struct edit_job *j;

	if (!E.started)
		return;
	pthread_mutex_lock(&E.lock);
	E.stopping = true;
	/* Jobs not started are dropped (their files untouched); the one running finishes. */
	while ((j = E.todo) != NULL) {
		E.todo = j->next;
		job_free(j);
	}
	E.todo_tail = NULL;
	pthread_cond_signal(&E.cond);
	pthread_mutex_unlock(&E.lock);
	pthread_join(E.thread, NULL);
	done_cb(
	    E.efd, EV_READ, NULL); /* what finished: reloaded (files changed), answers dropped */
	event_free(E.ev);
	E.ev = NULL;
	close(E.efd);
	E.efd = -1;
	E.started = false;
}

int mgmt_edit_status(int rc)
{
	switch (rc) {
	case AUTH_OK: return 204;
	case AUTH_E_NOT_FOUND: return 404;
	case AUTH_E_SYSTEM: return 500;
	default: return 400;
	}
}

void mgmt_edit_error(struct mreq *r, int rc, const char *err)
{
	int status = mgmt_edit_status(rc);

	if (status == 404)
		mgmt_error(r, 404, "Object Not Found", "%s", err);
	else if (status == 500)
		mgmt_error(r, 500, "internal_server_error", "%s", err);
	else
		mgmt_error(r, 400, "bad_request", "%s", err);
}
