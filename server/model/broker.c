/*
 * broker.c: process-wide state: the configuration in force, the vhosts, message memory
 * accounting with its alarm, and the deferred dispatch pass that delivers queued messages once the
 * current batch of input has been handled.
 */
#include <event2/event.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/time.h>

#include "server/model/model.h"

struct broker broker;

uint64_t now_ms(void)
{
	struct timeval tv;

	if (broker.base == NULL || event_base_gettimeofday_cached(broker.base, &tv) != 0)
		gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	queue_dispatch_pending();
}

/*
 * Once a second: when message memory has fallen 8 MiB below its peak (queues drained, deleted or
 * paged out), hand the freed heap back to the system, which malloc keeps otherwise. 1 M queued
 * 16-byte messages, paged out as they come: 39 MiB of RSS with this, 59 MiB with 64 MiB here.
 * The rest of such a drop comes back over the next seconds (the store thread frees what paging
 * took after the messages are gone), so it is trimmed again each second for TRIM_AGAIN seconds:
 * a queue of 42 million paged transient messages deleted left 500 MiB resident with one trim,
 * 50 MiB with a second a few seconds later.
 */
#define TRIM_AFTER (8 * 1024 * 1024)
#define TRIM_AGAIN 30

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
	static unsigned again;

	if (broker.mem_peak > broker.mem_used + TRIM_AFTER) {
		again = TRIM_AGAIN;
		broker.mem_peak = broker.mem_used;
	} else if (again == 0) {
		return;
	} else {
		again--;
	}
	malloc_trim(0);
}

/* Every 100 ms while message memory is above half the limit (publishers may be blocked). */
static void page_cb(evutil_socket_t fd, short what, void *arg)
{
	queue_page_all();
	if (broker_mem_pressure()) {
		static const struct timeval tenth = { 0, 100000 };
		evtimer_add(broker.page_ev, &tenth);
	}
}

void broker_config_defaults(struct broker_config *cfg)
{
	*cfg = (struct broker_config){
		.frame_max = 131072,
		.channel_max = 2047,
		.heartbeat = 60,
		.max_message_size = 134217728,
		.mem_high = 1024ULL * 1024 * 1024,
		.mem_low = 768ULL * 1024 * 1024,
		.handshake_timeout = 10,
		.consumer_timeout = 1800000, /* RabbitMQ's 30 minutes */
		.out_high = 1024 * 1024,
		.out_low = 256 * 1024,
		.guest_loopback_only = true,
		.disk_free_limit = 50ULL * 1000 * 1000, /* RabbitMQ's default */
		.auth_threads = 2,
		.auth_cache_ttl = 60,
	};
}

void broker_init(struct event_base *base, const struct broker_config *cfg)
{
	struct timeval tv;

	broker.base = base;
	broker.cfg = *cfg;
	gettimeofday(&tv, NULL);
	broker.started_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	hmap_init(&broker.vhosts);
	TAILQ_INIT(&broker.dispatch_list);
	TAILQ_INIT(&broker.all_queues);
	broker.dispatch_ev = event_new(base, -1, 0, dispatch_cb, NULL);
	broker.page_ev = evtimer_new(base, page_cb, NULL);
	broker.trim_ev = event_new(base, -1, EV_PERSIST, trim_cb, NULL);
	{
		static const struct timeval second = { 1, 0 };
		event_add(broker.trim_ev, &second);
	}
	persist_init(&broker_persist_hooks, base, cfg->disk_free_limit);
	broker_set_auth(
	    auth_db_new_default()); /* guest on "/", until a users file says otherwise */
}

void broker_set_auth(struct auth_db *db)
{
	size_t i, n = auth_db_vhost_count(db);
	struct auth_db *old = broker.auth;
	struct amqp_bytes name;

	broker.auth = db;
	broker.auth_gen++;
	/* Every vhost the files name exists (those they no longer name stay until a restart). */
	for (i = 0; i < n; i++) {
		name = auth_db_vhost_name(db, i);
		if (vhost_find(name) == NULL) {
			char *s = xbytesdup(name);
			vhost_create(s);
			free(s);
		}
	}
	/* Queues and exchanges of vhosts whose policies changed take them now (model/policy.c). */
	if (old != NULL)
		policy_reapply_changed(old);
	auth_db_unref(old);
}

void broker_free(void)
{
	struct hmap_iter it;
	void *v;

	hmap_iter_init(&broker.vhosts, &it);
	while (hmap_iter_next(&it, NULL, NULL, &v))
		vhost_free(v);
	hmap_clear(&broker.vhosts);
	message_pool_free();
	auth_db_unref(broker.auth);
	broker.auth = NULL;
	broker.auth_gen++;
	if (broker.dispatch_ev != NULL)
		event_free(broker.dispatch_ev);
	broker.dispatch_ev = NULL;
	if (broker.page_ev != NULL)
		event_free(broker.page_ev);
	broker.page_ev = NULL;
	if (broker.trim_ev != NULL)
		event_free(broker.trim_ev);
	broker.trim_ev = NULL;
}

void broker_mem_add(int64_t delta)
{
	bool on = (broker.alarms & ALARM_MEMORY) != 0;

	broker.mem_used = (uint64_t)((int64_t)broker.mem_used + delta);
	if (broker.mem_used > broker.mem_peak)
		broker.mem_peak = broker.mem_used;
	/* Past half the limit, queues page transient messages out (after the current callbacks). */
	if (delta > 0 && broker_mem_pressure() && broker.page_ev != NULL &&
	    !evtimer_pending(broker.page_ev, NULL)) {
		static const struct timeval now = { 0, 0 };
		evtimer_add(broker.page_ev, &now);
	}
	if (!on && broker.mem_used > broker.cfg.mem_high) {
		log_warn("memory alarm: messages hold %llu bytes (limit %llu): blocking publishers",
		    (unsigned long long)broker.mem_used, (unsigned long long)broker.cfg.mem_high);
		broker_set_alarm(ALARM_MEMORY, true);
	} else if (on && broker.mem_used < broker.cfg.mem_low) {
		log_info("memory alarm cleared: messages hold %llu bytes",
		    (unsigned long long)broker.mem_used);
		broker_set_alarm(ALARM_MEMORY, false);
	}
}

void broker_set_mem_limit(uint64_t high)
{
	broker.cfg.mem_high = high;
	broker.cfg.mem_low = high / 4 * 3;
	log_info("memory_limit set to %llu bytes", (unsigned long long)high);
	broker_mem_add(0);
}

void broker_set_disk_free_limit(uint64_t limit)
{
	broker.cfg.disk_free_limit = limit;
	log_info("disk_free_limit set to %llu bytes", (unsigned long long)limit);
	persist_set_disk_free_limit(limit);
}

void broker_set_alarm(enum alarm a, bool on)
{
	unsigned before = broker.alarms;

	if (on)
		broker.alarms |= a;
	else
		broker.alarms &= ~(unsigned)a;
	if ((before != 0) != (broker.alarms != 0))
		if (broker.events.alarm != NULL)
			broker.events.alarm(broker.alarms != 0);
}

void broker_kick(struct queue *q)
{
	if (q->dispatch_pending || q->deleted)
		return;
	q->dispatch_pending = true;
	queue_ref(q);
	TAILQ_INSERT_TAIL(&broker.dispatch_list, q, dispatch_entry);
	if (broker.dispatch_ev != NULL)
		event_active(broker.dispatch_ev, 0, 0);
}
