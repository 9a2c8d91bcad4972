/*
 * cluster.c: the model's side of a cluster node's role (docs/cluster.md). Persistence reports a
 * role change through its role hook; becoming master rebuilds the broker from the replicated
 * store as a start-up does (persist_cluster_master, through recover.c's hooks), so that messages
 * the old master delivered and never saw acked come back with redelivered set. The layer above
 * hears of it through broker.cluster_role.
 */
#include "server/model/model.h"

void cluster_role_changed(enum persist_role role, const char *master, const char *info)
{
	char err[512];
	bool ok = true;

	if (role == PERSIST_MASTER && persist_cluster_master(err, sizeof(err)) != 0) {
		/* An election may take the role away again before the tables open: not an error. */
		if (persist_cluster_is_master())
			log_error(
			    "cluster: rebuilding the broker from the replicated store: %s", err);
		else
			log_info("cluster: no longer the master before the store opened (%s)", err);
		ok = false;
	}
	if (broker.cluster_role != NULL)
		broker.cluster_role(role, master, info, ok);
}
