/*
 * policy.c: policies and operator policies (auth/policy.c parses and matches them) put in force
 * on queues and exchanges. A queue's settings in force (struct queue_args) are its x-arguments
 * combined with what the policy and the operator policy that apply to it say, key by key as
 * RabbitMQ 3.10's classic queue process combines them (rabbit_amqqueue_process
 * process_args_policy): for message-ttl, expires, max-length, max-length-bytes and
 * delivery-limit the smaller of the argument and the policy's value; for overflow,
 * dead-letter-exchange, dead-letter-routing-key and dispatch the argument when there is one. An
 * exchange's alternate exchange is its argument's, else the policy's (rabbit_policy:get_arg).
 * The x-arguments as declared stay in q->args and x->args (equivalence checks ignore policies).
 * A reload that changes a vhost's policies re-evaluates its every queue and exchange at once.
 */
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

/* The policy values that apply to the object (both kinds merged): false when none. */
static bool values_for(struct vhost *v, enum auth_resource kind, struct amqp_bytes name,
    struct auth_policy_values *out)
{
	struct amqp_bytes vn = amqp_cstr(v->name);
	const struct auth_policy *p, *op;

	if (broker.auth == NULL || !auth_vhost_has_policies(broker.auth, vn))
		return false;
	p = auth_policy_match(broker.auth, vn, false, kind, name);
	op = auth_policy_match(broker.auth, vn, true, kind, name);
	if (p == NULL && op == NULL)
		return false;
	auth_policy_merge(p, op, out);
	return true;
}

/* Combine a number from the policy with the argument's: the smaller, as RabbitMQ's res_min. */
static void combine_min(const struct auth_policy_values *pv, int key, bool *has, uint64_t *val)
{
	if ((pv->has & (1u << key)) == 0)
		return;
	if (!*has || pv->n[key] < *val)
		*val = pv->n[key];
	*has = true;
}

static bool has_key(const struct auth_policy_values *pv, int key)
{
	return (pv->has & (1u << key)) != 0;
}

void policy_queue_args(struct vhost *v, struct amqp_bytes name, struct queue_args *qa)
{
	struct auth_policy_values pv;
	const char *s;

	if (!values_for(v, AUTH_RES_QUEUE, name, &pv))
		return;
	combine_min(&pv, AUTH_PK_MESSAGE_TTL, &qa->has_ttl, &qa->ttl_ms);
	combine_min(&pv, AUTH_PK_EXPIRES, &qa->has_expires, &qa->expires_ms);
	combine_min(&pv, AUTH_PK_MAX_LENGTH, &qa->has_max_len, &qa->max_len);
	combine_min(&pv, AUTH_PK_MAX_LENGTH_BYTES, &qa->has_max_bytes, &qa->max_bytes);
	combine_min(&pv, AUTH_PK_DELIVERY_LIMIT, &qa->has_delivery_limit, &qa->delivery_limit);
	/* The argument wins for these. */
	if (!qa->has_overflow && has_key(&pv, AUTH_PK_OVERFLOW)) {
		s = pv.s[AUTH_PK_OVERFLOW];
		qa->overflow = strcmp(s, "reject-publish") == 0 ? OVERFLOW_REJECT_PUBLISH
		    : strcmp(s, "reject-publish-dlx") == 0      ? OVERFLOW_REJECT_PUBLISH_DLX
		                                                : OVERFLOW_DROP_HEAD;
	}
	if (!qa->has_dispatch && has_key(&pv, AUTH_PK_DISPATCH))
		qa->dispatch = strcmp(pv.s[AUTH_PK_DISPATCH], "least-unacked") == 0
		    ? DISPATCH_LEAST_UNACKED
		    : DISPATCH_ROUND_ROBIN;
	if (qa->dlx == NULL && has_key(&pv, AUTH_PK_DLX))
		qa->dlx = xstrdup(pv.s[AUTH_PK_DLX]);
	if (qa->dlx_rk == NULL && has_key(&pv, AUTH_PK_DLX_RK))
		qa->dlx_rk = xstrdup(pv.s[AUTH_PK_DLX_RK]);
}

char *policy_exchange_alternate(struct exchange *x)
{
	struct auth_policy_values pv;

	if (!values_for(x->vhost, AUTH_RES_EXCHANGE,
	        (struct amqp_bytes){ (uint8_t *)x->name, x->name_len }, &pv) ||
	    !has_key(&pv, AUTH_PK_ALTERNATE_EXCHANGE))
		return NULL;
	return xstrdup(pv.s[AUTH_PK_ALTERNATE_EXCHANGE]);
}

/* Put the queue's settings from its arguments and the policies in force now. */
static void queue_reapply(struct queue *q)
{
	struct queue_args qa;
	char err[512];

	if (queue_args_parse((struct amqp_bytes){ q->args, q->args_len }, &qa, q->name,
	        q->vhost->name, err, sizeof(err)) != 0) {
		/* Its arguments passed this check when it was declared: keep what is in force. */
		log_warn("queue '%s' in vhost '%s': %s", q->name, q->vhost->name, err);
		return;
	}
	policy_queue_args(q->vhost, (struct amqp_bytes){ (uint8_t *)q->name, q->name_len }, &qa);
	queue_settings_replace(q, &qa);
}

static void exchange_reapply(struct exchange *x)
{
	char *ae = exchange_arg_alternate(x);

	if (ae == NULL)
		ae = policy_exchange_alternate(x);
	free(x->alternate);
	x->alternate = ae;
}

void policy_vhost_reapply(struct vhost *v)
{
	struct hmap_iter it;
	size_t nq = 0, nx = 0;
	void *p;

	hmap_iter_init(&v->queues, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		queue_reapply(p);
		nq++;
	}
	hmap_iter_init(&v->exchanges, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		exchange_reapply(p);
		nx++;
	}
	log_info("vhost '%s': policies changed: %zu queues and %zu exchanges re-evaluated", v->name,
	    nq, nx);
}

void policy_reapply_changed(const struct auth_db *old)
{
	struct hmap_iter it;
	void *p;

	hmap_iter_init(&broker.vhosts, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		struct vhost *v = p;
		if (!auth_vhost_policies_equal(old, broker.auth, amqp_cstr(v->name)))
			policy_vhost_reapply(v);
	}
}
