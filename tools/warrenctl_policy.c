/*
 * warrenctl_policy.c: rabbitmqctl's set_policy, clear_policy, set_operator_policy and
 * clear_operator_policy in warrenctl(8), as management API requests on the control socket
 * (PUT and DELETE of /api/policies/{vhost}/{name} and /api/operator-policies/...): warrend
 * writes the policy line into the vhost's file and reloads, as for any API write, before it
 * answers. list_policies and list_operator_policies are listings (warrenctl_rmq.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/warrenctl.h"

static int set_policy(struct ctl_opts *o, bool op)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/", *name, *pattern, *def;
	char target[2 * NAME_ENC_MAX + 64], ev[NAME_ENC_MAX], en[NAME_ENC_MAX], *body, *end;
	char missing[NAME_ENC_MAX + 64];
	json_t *definition, *req;
	json_error_t jerr;
	long priority = 0;
	int r;

	if (o->argc != 3)
		return -1;
	name = o->argv[0];
	pattern = o->argv[1];
	def = o->argv[2];
	if (o->priority != NULL) {
		priority = strtol(o->priority, &end, 10);
		if (*o->priority == '\0' || *end != '\0') {
			fprintf(stderr, "Error:\n\"%s\" priority must be a number\n", o->priority);
			return EXIT_FAILURE;
		}
	}
	if ((definition = json_loads(def, 0, &jerr)) == NULL) {
		fprintf(stderr, "Error:\nCould not parse JSON document: %s\n", jerr.text);
		return EXIT_FAILURE;
	}
	if (!o->quiet && !o->json)
		printf("Setting %s \"%s\" for pattern \"%s\" to \"%s\" with priority \"%ld\" for "
		       "vhost \"%s\" ...\n",
		    op ? "operator policy override" : "policy", name, pattern, def, priority,
		    vhost);
	fflush(stdout);
	req = json_pack("{s:s, s:o, s:I, s:s}", "pattern", pattern, "definition", definition,
	    "priority", (json_int_t)priority, "apply-to",
	    o->apply_to != NULL ? o->apply_to : "all");
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	snprintf(target, sizeof(target), "/api/%s/%s/%s", op ? "operator-policies" : "policies",
	    api_enc(vhost, ev, sizeof(ev)), api_enc(name, en, sizeof(en)));
	snprintf(missing, sizeof(missing), "Virtual host '%s' does not exist", vhost);
	r = api_change(o, "PUT", target, body, missing); /* EXIT_SUCCESS (0) or EXIT_FAILURE */
	free(body);
	return r;
}

static int clear_policy(struct ctl_opts *o, bool op)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/", *name;
	char target[2 * NAME_ENC_MAX + 64], ev[NAME_ENC_MAX], en[NAME_ENC_MAX];

	if (o->argc != 1)
		return -1;
	name = o->argv[0];
	if (!o->quiet && !o->json)
		printf("Clearing %s \"%s\" on vhost \"%s\" ...\n",
		    op ? "operator policy" : "policy", name, vhost);
	fflush(stdout);
	snprintf(target, sizeof(target), "/api/%s/%s/%s", op ? "operator-policies" : "policies",
	    api_enc(vhost, ev, sizeof(ev)), api_enc(name, en, sizeof(en)));
	return api_change(o, "DELETE", target, NULL, "Parameter does not exist");
}

int rmq_policy_cmd(struct ctl_opts *o, const char *cmd)
{
	bool op = strstr(cmd, "operator") != NULL;

	if (strncmp(cmd, "set_", 4) == 0)
		return set_policy(o, op);
	if ((o->priority != NULL || o->apply_to != NULL))
		return -1;
	return clear_policy(o, op);
}
