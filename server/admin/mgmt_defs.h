/*
 * mgmt_defs.h: definitions, RabbitMQ 3.10's JSON document (rabbit_version, users, vhosts,
 * permissions, topic_permissions, parameters, global_parameters, policies, queues, exchanges,
 * bindings), out of the broker and into it. The pair the control socket's export_definitions and
 * import_definitions (mgmt_ctl.c) and the API's /api/definitions stand on. Event loop only.
 */
#ifndef WARREN_SERVER_ADMIN_MGMT_DEFS_H
#define WARREN_SERVER_ADMIN_MGMT_DEFS_H

#include "server/admin/mgmt.h"

/*
 * The definitions of every vhost (vhost NULL) or of one, as a new JSON document that RabbitMQ
 * 3.10 imports: users (their stored hashes as warren_password_hash, none for RabbitMQ), vhosts, permissions and topic permissions from the users and vhost files;
 * vhost limits as "vhost-limits" parameters; durable exchanges (not the default or "amq." ones),
 * durable non-exclusive queues, and bindings between durable objects.
 */
json_t *mgmt_definitions_export(const char *vhost);

/*
 * Apply doc's exchanges, queues and bindings (of vhosts that exist) as declares and binds would,
 * after checking all of them first: 0, or -1 with nothing applied and the reason in err. What it
 * cannot apply (users, vhosts and permissions live in files; policies and parameters are not
 * supported) is reported, one line each, into report. The caller answers once the store has the
 * durable ones (mgmt_reply_after_store).
 */
int mgmt_definitions_import(const json_t *doc, struct evbuffer *report, char *err, size_t errlen);

#endif /* WARREN_SERVER_ADMIN_MGMT_DEFS_H */
