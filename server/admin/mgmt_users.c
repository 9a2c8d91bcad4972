/*
 * mgmt_users.c: users, permissions and topic permissions through the management API, and the
 * writes to vhosts (PUT, DELETE), with RabbitMQ 3.10's paths and JSON. Reads come from the
 * database in force (broker.auth). Writes change the users file or the vhost files, which stay
 * the truth: each is a job for mgmt_edit.c's worker (the files edited line by line, checked,
 * written atomically; a new password hashed with scrypt there, never on the loop), then a reload
 * as `warrenctl reload` does, then the answer. A write the files cannot express (a vhost
 * description, tracing, a hash Warren cannot verify, a name with a control character) is 400
 * with the reason; without a users_file, 405 naming it. All of this needs the administrator tag.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

static const struct mgmt_list_ops user_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "name", NULL } };
static const struct mgmt_list_ops perm_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "vhost", "user", "exchange", NULL } };

static json_t *bytes_json(struct amqp_bytes b)
{
	return mgmt_bytes(b.ptr, b.len);
}

static json_t *tags_json(const char *tags)
{
	json_t *a = json_array();
	const char *p = tags, *comma;

	while (*p != '\0') {
		comma = strchrnul(p, ',');
		json_array_append_new(a, json_stringn(p, (size_t)(comma - p)));
		p = *comma == ',' ? comma + 1 : comma;
	}
	return a;
}

json_t *mgmt_user_json(const struct auth_user_info *u)
{
	char hash[AUTH_HASH_MAX * 2];
	const char *alg;
	json_t *o;

	if (auth_rabbit_hash_export(u->hash, &alg, hash, sizeof(hash)) != AUTH_OK)
		hash[0] = '\0';
	o = json_pack("{s:o, s:s, s:s, s:o, s:{}}", "name", bytes_json(u->name), "password_hash",
	    hash, "hashing_algorithm", alg, "tags", tags_json(u->tags), "limits");
	return o;
}

static json_t *perm_json(struct amqp_bytes vhost, const struct auth_grant_info *g)
{
	return json_pack("{s:o, s:o, s:s, s:s, s:s}", "user", bytes_json(g->user), "vhost",
	    bytes_json(vhost), "configure", g->re[0], "write", g->re[1], "read", g->re[2]);
}

static json_t *topic_json(struct amqp_bytes vhost, const struct auth_topic_info *t)
{
	return json_pack("{s:o, s:o, s:o, s:s, s:s}", "user", bytes_json(t->user), "vhost",
	    bytes_json(vhost), "exchange", bytes_json(t->exchange), "write", t->write, "read",
	    t->read);
}

static bool bytes_is(struct amqp_bytes b, const char *s)
{
	return b.len == strlen(s) && (b.len == 0 || memcmp(b.ptr, s, b.len) == 0);
}

/* ---- Reads ---- */

void mgmt_users(struct mreq *r)
{
	struct mgmt_list *l = mgmt_list_new(&user_ops);
	struct auth_user_info u;
	json_t *j;
	size_t i;

	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (i = 0; auth_db_user_at(broker.auth, i, &u); i++) {
		j = mgmt_user_json(&u);
		mgmt_list_add(l, r, j, j);
	}
	mgmt_list_send(l, r);
}

static bool has_permissions(struct amqp_bytes user)
{
	struct auth_grant_info g;
	size_t v, i;

	for (v = 0; v < auth_db_vhost_count(broker.auth); v++)
		for (i = 0; auth_db_grant_at(broker.auth, v, i, &g); i++)
			if (g.user.len == user.len && memcmp(g.user.ptr, user.ptr, user.len) == 0)
				return true;
	return false;
}

void mgmt_users_without_permissions(struct mreq *r)
{
	struct mgmt_list *l = mgmt_list_new(&user_ops);
	struct auth_user_info u;
	json_t *j;
	size_t i;

	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (i = 0; auth_db_user_at(broker.auth, i, &u); i++) {
		if (has_permissions(u.name))
			continue;
		j = mgmt_user_json(&u);
		mgmt_list_add(l, r, j, j);
	}
	mgmt_list_send(l, r);
}

/*
 * The permissions (topic: the topic permissions) of every vhost, or of the vhost or user the path
 * names: permissions, vhosts/{v}/permissions, users/{u}/permissions, and topic-permissions/{v}/{u}
 * (GET: a user's topic permissions in a vhost, a list).
 */
static void list_perms(struct mreq *r, bool topic)
{
	const char *vhost = NULL, *user = NULL;
	struct mgmt_list *l;
	struct auth_grant_info g;
	struct auth_topic_info t;
	struct amqp_bytes vn;
	size_t v, i;
	json_t *j;

	if (strcmp(r->segs[0], "vhosts") == 0)
		vhost = r->arg[0];
	else if (strcmp(r->segs[0], "users") == 0)
		user = r->arg[0];
	else if (r->nsegs == 3) {
		vhost = r->arg[0];
		user = r->arg[1];
	}
	if (vhost != NULL && !auth_vhost_exists(broker.auth, amqp_cstr(vhost))) {
		mgmt_not_found(r);
		return;
	}
	if (user != NULL && !auth_user_exists(broker.auth, amqp_cstr(user))) {
		mgmt_not_found(r);
		return;
	}
	l = mgmt_list_new(&perm_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (v = 0; v < auth_db_vhost_count(broker.auth); v++) {
		vn = auth_db_vhost_name(broker.auth, v);
		if (vhost != NULL && !bytes_is(vn, vhost))
			continue;
		for (i = 0; !topic && auth_db_grant_at(broker.auth, v, i, &g); i++) {
			if (user != NULL && !bytes_is(g.user, user))
				continue;
			j = perm_json(vn, &g);
			mgmt_list_add(l, r, j, j);
		}
		for (i = 0; topic && auth_db_topic_at(broker.auth, v, i, &t); i++) {
			if (user != NULL && !bytes_is(t.user, user))
				continue;
			j = topic_json(vn, &t);
			mgmt_list_add(l, r, j, j);
		}
	}
	mgmt_list_send(l, r);
}

void mgmt_permissions(struct mreq *r)
{
	list_perms(r, false);
}

void mgmt_topic_permissions(struct mreq *r)
{
	list_perms(r, true);
}

/* ---- Writes: the jobs ---- */

/* What a job changes; the worker reads it, the loop frees it. */
struct change {
	char *user, *vhost, *exchange;
	char *password; /* a new password, hashed on the worker (wiped when freed) */
	char *hash;     /* or a stored hash (or "!"), or NULL to keep it */
	char *tags;     /* NULL: keep */
	char *re[3];    /* configure, write, read (topic: write, read) */
	json_t *users;  /* bulk delete: an array of names */
	bool created;   /* the worker's answer: it was new */
};

static void change_free(void *p)
{
	struct change *c = p;
	int k;

	if (c == NULL)
		return;
	free(c->user);
	free(c->vhost);
	free(c->exchange);
	if (c->password != NULL) {
		OPENSSL_cleanse(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->hash);
	free(c->tags);
	for (k = 0; k < 3; k++)
		free(c->re[k]);
	json_decref(c->users);
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* The answer to a PUT: 201 when it created something, else 204; an error as its code says. */
static void put_done(struct mreq *r, int rc, const char *err, void *arg)
{
	struct change *c = arg;

	if (rc != AUTH_OK)
		mgmt_edit_error(r, rc, err);
	else
		mgmt_reply_empty(r, c->created ? 201 : 204);
}

static void delete_done(struct mreq *r, int rc, const char *err, void *arg)
{
	if (rc != AUTH_OK)
		mgmt_edit_error(r, rc, err);
	else
		mgmt_reply_empty(r, 204);
}

static int user_put_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;
	char hash[AUTH_HASH_MAX];
	int rc;

	if (c->password != NULL) {
		rc = auth_hash_password(amqp_cstr(c->password), hash, sizeof(hash));
		if (rc != AUTH_OK) {
			snprintf(err, errlen, "cannot hash the password: %s", auth_strerror(rc));
			return AUTH_E_SYSTEM;
		}
		c->hash = xstrdup(hash);
	}
	return auth_edit_user_set(
	    e, amqp_cstr(c->user), c->hash, c->tags, &c->created, err, errlen);
}

static int user_delete_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;

	return auth_edit_user_remove(e, amqp_cstr(c->user), err, errlen);
}

static int bulk_delete_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;
	size_t i;
	json_t *u;
	int rc;

	json_array_foreach(c->users, i, u)
	{
		rc = auth_edit_user_remove(e, amqp_cstr(json_string_value(u)), err, errlen);
		if (rc != AUTH_OK && rc != AUTH_E_NOT_FOUND) /* RabbitMQ skips missing ones */
			return rc;
	}
	return AUTH_OK;
}

static int perm_put_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;
	const char *re[3] = { c->re[0], c->re[1], c->re[2] };
	size_t vi;
	struct auth_grant_info g;
	size_t i;

	c->created = true;
	if (auth_db_vhost_index(auth_edit_db(e), amqp_cstr(c->vhost), &vi))
		for (i = 0; auth_db_grant_at(auth_edit_db(e), vi, i, &g); i++)
			if (bytes_is(g.user, c->user))
				c->created = false;
	return auth_edit_permissions_set(
	    e, amqp_cstr(c->vhost), amqp_cstr(c->user), re, err, errlen);
}

static int perm_delete_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;

	return auth_edit_permissions_remove(
	    e, amqp_cstr(c->vhost), amqp_cstr(c->user), err, errlen);
}

static int topic_put_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;
	struct auth_topic_info t;
	size_t vi, i;

	c->created = true;
	if (auth_db_vhost_index(auth_edit_db(e), amqp_cstr(c->vhost), &vi))
		for (i = 0; auth_db_topic_at(auth_edit_db(e), vi, i, &t); i++)
			if (bytes_is(t.user, c->user) && bytes_is(t.exchange, c->exchange))
				c->created = false;
	return auth_edit_topic_set(e, amqp_cstr(c->vhost), amqp_cstr(c->user),
	    amqp_cstr(c->exchange), c->re[0], c->re[1], err, errlen);
}

static int topic_delete_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;
	struct amqp_bytes x = amqp_cstr(c->exchange != NULL ? c->exchange : "");

	return auth_edit_topic_remove(e, amqp_cstr(c->vhost), amqp_cstr(c->user),
	    c->exchange != NULL ? &x : NULL, err, errlen);
}

static int vhost_put_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;

	return auth_edit_vhost_add(e, amqp_cstr(c->vhost), &c->created, err, errlen);
}

static int vhost_delete_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct change *c = arg;

	return auth_edit_vhost_remove(e, amqp_cstr(c->vhost), err, errlen);
}

/* ---- Writes: the handlers ---- */

/* tags as RabbitMQ takes them: "a,b" (spaces allowed around), or a list of strings. */
static int body_tags(struct mreq *r, char **out)
{
	const json_t *t = json_object_get(r->body, "tags");
	char buf[1024], err[300];
	size_t at = 0, i, n;
	const char *s;
	json_t *x;

	*out = NULL;
	if (t == NULL || json_is_null(t))
		return 0;
	buf[0] = '\0';
	if (json_is_string(t)) {
		for (s = json_string_value(t); *s != '\0' && at + 1 < sizeof(buf); s++)
			if (*s != ' ')
				buf[at++] = *s;
		buf[at] = '\0';
	} else if (json_is_array(t)) {
		json_array_foreach(t, i, x)
		{
			if (!json_is_string(x) ||
			    (n = json_string_length(x)) + at + 2 > sizeof(buf)) {
				mgmt_error(r, 400, "bad_request", "tags must be strings");
				return -1;
			}
			if (at > 0)
				buf[at++] = ',';
			memcpy(buf + at, json_string_value(x), n);
			buf[at += n] = '\0';
		}
	} else {
		mgmt_error(r, 400, "bad_request", "tags must be a string or a list");
		return -1;
	}
	while (at > 0 && buf[at - 1] == ',') /* "a," as RabbitMQ tolerates */
		buf[--at] = '\0';
	if (auth_edit_check_tags(buf, err, sizeof(err)) != AUTH_OK) {
		mgmt_error(r, 400, "bad_request", "%s", err);
		return -1;
	}
	*out = xstrdup(buf);
	return 0;
}

static void user_put(struct mreq *r)
{
	struct change *c = xcalloc(1, sizeof(*c));
	const char *pw = mgmt_json_str(r->body, "password", NULL);
	const char *ph = mgmt_json_str(r->body, "password_hash", NULL);
	const char *alg = mgmt_json_str(r->body, "hashing_algorithm", NULL);
	char stored[AUTH_HASH_MAX], why[512];

	c->user = xstrdup(r->arg[0]);
	if (auth_edit_check_user_name(amqp_cstr(c->user), why, sizeof(why)) != AUTH_OK) {
		mgmt_error(r, 400, "bad_request", "%s", why);
		goto fail;
	}
	if (body_tags(r, &c->tags) != 0)
		goto fail;
	if (pw != NULL) {
		if (*pw == '\0') { /* RabbitMQ refuses blank passwords at login */
			c->hash = xstrdup("!");
		} else {
			c->password = xstrdup(pw);
		}
	} else if (ph != NULL) {
		if (*ph == '\0') {
			c->hash = xstrdup("!"); /* RabbitMQ's way to say: no password login */
		} else if (auth_rabbit_hash_import(
		               alg, ph, stored, sizeof(stored), why, sizeof(why)) != AUTH_OK) {
			mgmt_error(r, 400, "bad_request", "%s", why);
			goto fail;
		} else {
			c->hash = xstrdup(stored);
		}
	}
	mgmt_edit_submit(r, user_put_job, put_done, c, change_free);
	return;
fail:
	change_free(c);
}

void mgmt_user(struct mreq *r)
{
	struct auth_user_info u;
	struct change *c;
	size_t i;

	if (r->method == M_GET || r->method == M_HEAD) {
		for (i = 0; auth_db_user_at(broker.auth, i, &u); i++) {
			if (bytes_is(u.name, r->arg[0])) {
				mgmt_reply_json(r, 200, mgmt_user_json(&u));
				return;
			}
		}
		mgmt_not_found(r);
		return;
	}
	if (!mgmt_files_writable(r))
		return;
	if (r->method == M_PUT) {
		user_put(r);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->user = xstrdup(r->arg[0]);
	mgmt_edit_submit(r, user_delete_job, delete_done, c, change_free);
}

void mgmt_users_bulk_delete(struct mreq *r)
{
	json_t *users = json_object_get(r->body, "users");
	struct change *c;
	size_t i;
	json_t *u;

	if (!json_is_array(users)) {
		mgmt_error(r, 400, "bad_request", "users must be a list of names");
		return;
	}
	json_array_foreach(users, i, u)
	{
		if (!json_is_string(u)) {
			mgmt_error(r, 400, "bad_request", "users must be a list of names");
			return;
		}
	}
	if (!mgmt_files_writable(r))
		return;
	c = xcalloc(1, sizeof(*c));
	c->users = json_incref(users);
	mgmt_edit_submit(r, bulk_delete_job, delete_done, c, change_free);
}

/* A regular expression field of a permissions body: mandatory, a string. */
static bool body_re(struct mreq *r, const char *key, char **out)
{
	const char *s = mgmt_json_str(r->body, key, NULL);

	if (s == NULL) {
		mgmt_error(r, 400, "bad_request", "{key_missing,%s}", key);
		return false;
	}
	*out = xstrdup(s);
	return true;
}

/* The vhost and user of permissions/{v}/{u} both exist: else 400 vhost_or_user_not_found. */
static bool vhost_and_user(struct mreq *r)
{
	if (auth_vhost_exists(broker.auth, amqp_cstr(r->arg[0])) &&
	    (auth_user_exists(broker.auth, amqp_cstr(r->arg[1])) ||
	        broker.cfg.password_backend == AUTH_BACKEND_SASLAUTHD))
		return true;
	mgmt_error(r, 400, "bad_request", "vhost_or_user_not_found");
	return false;
}

void mgmt_permission(struct mreq *r)
{
	struct amqp_bytes v = amqp_cstr(r->arg[0]);
	struct auth_grant_info g;
	struct change *c;
	size_t vi, i;

	if (r->method == M_GET || r->method == M_HEAD) {
		if (auth_db_vhost_index(broker.auth, v, &vi))
			for (i = 0; auth_db_grant_at(broker.auth, vi, i, &g); i++)
				if (bytes_is(g.user, r->arg[1])) {
					mgmt_reply_json(r, 200, perm_json(v, &g));
					return;
				}
		mgmt_not_found(r);
		return;
	}
	if (!mgmt_files_writable(r))
		return;
	c = xcalloc(1, sizeof(*c));
	c->vhost = xstrdup(r->arg[0]);
	c->user = xstrdup(r->arg[1]);
	if (r->method == M_DELETE) {
		mgmt_edit_submit(r, perm_delete_job, delete_done, c, change_free);
		return;
	}
	if (!vhost_and_user(r) || !body_re(r, "configure", &c->re[0]) ||
	    !body_re(r, "write", &c->re[1]) || !body_re(r, "read", &c->re[2])) {
		change_free(c);
		return;
	}
	mgmt_edit_submit(r, perm_put_job, put_done, c, change_free);
}

void mgmt_topic_permission(struct mreq *r)
{
	const char *x;
	struct change *c;

	if (r->method == M_GET || r->method == M_HEAD) {
		list_perms(r, true);
		return;
	}
	if (!mgmt_files_writable(r))
		return;
	c = xcalloc(1, sizeof(*c));
	c->vhost = xstrdup(r->arg[0]);
	c->user = xstrdup(r->arg[1]);
	x = r->body != NULL ? mgmt_json_str(r->body, "exchange", NULL) : mgmt_query(r, "exchange");
	c->exchange = dup_or_null(x);
	if (r->method == M_DELETE) {
		mgmt_edit_submit(r, topic_delete_job, delete_done, c, change_free);
		return;
	}
	if (!vhost_and_user(r)) {
		change_free(c);
		return;
	}
	if (c->exchange == NULL) {
		mgmt_error(r, 400, "bad_request", "{key_missing,exchange}");
		change_free(c);
		return;
	}
	if (!body_re(r, "write", &c->re[0]) || !body_re(r, "read", &c->re[1])) {
		change_free(c);
		return;
	}
	mgmt_edit_submit(r, topic_put_job, put_done, c, change_free);
}

/* ---- vhosts/{v}: PUT and DELETE ---- */

/*
 * After a vhost's file is gone and the reload is done: its queues and exchanges go, as
 * RabbitMQ's delete_vhost removes them (durable ones from the store too). Its connections were
 * closed by the reload (320); the empty vhost object stays in the model, hidden, until a restart.
 */
static void vhost_clear(const char *name)
{
	struct vhost *v = vhost_find(amqp_cstr(name));
	struct hmap_iter it;
	const void *k;
	size_t kl, n, i;
	void *val, **list;

	if (v == NULL)
		return;
	for (int pass = 0; pass < 2; pass++) {
		struct hmap *m = pass == 0 ? &v->queues : &v->exchanges;
		list = xcalloc(m->count + 1, sizeof(*list));
		n = 0;
		hmap_iter_init(m, &it);
		while (hmap_iter_next(&it, &k, &kl, &val))
			list[n++] = val;
		for (i = 0; i < n; i++) {
			if (pass == 0) {
				struct queue *q = list[i];
				if (!q->exclusive)
					queue_delete(q);
			} else {
				struct exchange *x = list[i];
				if (!validate_reserved_name((struct amqp_bytes){
				        (const uint8_t *)x->name, x->name_len }) &&
				    x->name_len > 0)
					exchange_delete(x);
			}
		}
		free(list);
	}
}

static void vhost_delete_done(struct mreq *r, int rc, const char *err, void *arg)
{
	struct change *c = arg;

	if (rc != AUTH_OK) {
		mgmt_edit_error(r, rc, err);
		return;
	}
	vhost_clear(c->vhost);
	mgmt_reply_after_store(r, 204);
}

void mgmt_vhost_route(struct mreq *r)
{
	bool tracing = false;
	const char *s;
	const json_t *tags;
	struct change *c;

	if (r->method == M_GET || r->method == M_HEAD) {
		mgmt_vhost_get(r);
		return;
	}
	if (!(r->tags & TAG_ADMINISTRATOR)) {
		mgmt_error(r, 401, "not_authorised", "Not administrator user");
		return;
	}
	if (!mgmt_files_writable(r))
		return;
	if (r->method == M_PUT) {
		/* What a vhost file cannot say is refused rather than dropped. */
		if (mgmt_json_bool(r->body, "tracing", false, &tracing) != 0 || tracing) {
			mgmt_error(r, 400, "bad_request", "Warren has no message tracing");
			return;
		}
		if ((s = mgmt_json_str(r->body, "description", NULL)) != NULL && *s != '\0') {
			mgmt_error(r, 400, "bad_request",
			    "a vhost file has no description: leave description out");
			return;
		}
		tags = json_object_get(r->body, "tags");
		if (tags != NULL && !(json_is_string(tags) && json_string_length(tags) == 0) &&
		    !(json_is_array(tags) && json_array_size(tags) == 0)) {
			mgmt_error(
			    r, 400, "bad_request", "a vhost file has no tags: leave tags out");
			return;
		}
		if ((s = mgmt_json_str(r->body, "default_queue_type", NULL)) != NULL &&
		    strcmp(s, "classic") != 0) {
			mgmt_error(r, 400, "bad_request",
			    "Warren has only classic queues (default_queue_type %s)", s);
			return;
		}
	}
	c = xcalloc(1, sizeof(*c));
	c->vhost = xstrdup(r->arg[0]);
	if (r->method == M_PUT)
		mgmt_edit_submit(r, vhost_put_job, put_done, c, change_free);
	else
		mgmt_edit_submit(r, vhost_delete_job, vhost_delete_done, c, change_free);
}
