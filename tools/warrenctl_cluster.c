/*
 * warrenctl_cluster.c: `warrenctl cluster status` and `warrenctl cluster remove HOST:PORT`
 * (docs/cluster.md), over the control socket's api command: GET /api/cluster and
 * DELETE /api/cluster/nodes/HOST:PORT.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/warrenctl.h"

static int status(struct ctl_opts *o)
{
	json_t *j, *n;
	const char *fp;
	size_t i;

	if (api_get_json(o, "/api/cluster", &j) != 0)
		return EXIT_FAILURE;
	if (o->json) {
		char *s = json_dumps(j, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(j);
		return EXIT_SUCCESS;
	}
	printf("this node: %s, log position %s, %s, %lld commit%s without a majority's ack\n",
	    json_string_value(json_object_get(j, "role")),
	    json_string_value(json_object_get(j, "log_position")),
	    json_is_true(json_object_get(j, "caught_up")) ? "caught up" : "catching up",
	    (long long)json_integer_value(json_object_get(j, "perm_failed")),
	    json_integer_value(json_object_get(j, "perm_failed")) == 1 ? "" : "s");
	if (json_is_true(json_object_get(j, "serving_alone")))
		printf("promoted to serve alone: commits wait for no other node until the other is "
		       "back\n");
	printf("%-32s %-8s %s\n", "node", "role", "connection");
	json_array_foreach(json_object_get(j, "nodes"), i, n)
	    printf("%-32s %-8s %s%s\n", json_string_value(json_object_get(n, "name")),
	        json_string_value(json_object_get(n, "role")),
	        json_is_true(json_object_get(n, "connected")) ? "connected" : "disconnected",
	        json_is_true(json_object_get(n, "local")) ? " (this node)" : "");
	/* What `warrenctl check-config` prints on each node: the files must be the same on all. */
	fp = json_string_value(json_object_get(j, "files_fingerprint"));
	if (fp != NULL && *fp != '\0')
		printf("users and vhost files: sha256 %s\n", fp);
	else if (fp != NULL)
		printf("users and vhost files: none (the built-in guest user)\n");
	json_decref(j);
	return EXIT_SUCCESS;
}

static int remove_node(struct ctl_opts *o, const char *node)
{
	char target[NAME_ENC_MAX + 64], enc[NAME_ENC_MAX];
	struct api_answer a;
	int r = EXIT_FAILURE;

	snprintf(target, sizeof(target), "/api/cluster/nodes/%s", api_enc(node, enc, sizeof(enc)));
	if (api_request(o, &a, "DELETE", target, NULL, NULL, 0) != 0)
		goto out;
	if (a.status >= 400) {
		api_error(&a, NULL);
		goto out;
	}
	json_decref(api_json(&a));
	printf("%s removed from the group\n", node);
	r = EXIT_SUCCESS;
out:
	api_close(&a);
	return r;
}

static int promote(struct ctl_opts *o)
{
	struct api_answer a;
	int r = EXIT_FAILURE;

	if (api_request(o, &a, "POST", "/api/cluster/promote", NULL, NULL, 0) != 0)
		goto out;
	if (a.status >= 400) {
		api_error(&a, NULL);
		goto out;
	}
	printf("promoted: this node becomes master at its next election (within a second)\n");
	r = EXIT_SUCCESS;
out:
	api_close(&a);
	return r;
}

int cmd_cluster(const struct cmd *self, int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 't' },
		{ "formatter", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
	struct ctl_opts o = { .timeout = 60 };
	int c;

	while ((c = getopt_long(argc, argv, "c:d:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case 'd': o.dir = optarg; break;
		case 'S': o.sock = optarg; break;
		case 't': o.timeout = atoi(optarg) > 0 ? atoi(optarg) : 60; break;
		case 'f': o.json = strcmp(optarg, "json") == 0; break;
		default: return cmd_usage(self);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 ||
	    ((strcmp(argv[0], "status") == 0 || strcmp(argv[0], "promote") == 0) && argc != 1) ||
	    (strcmp(argv[0], "remove") == 0 && argc != 2) ||
	    (strcmp(argv[0], "status") != 0 && strcmp(argv[0], "remove") != 0 &&
	        strcmp(argv[0], "promote") != 0))
		return cmd_usage(self);
	if (control_socket_find(o.config, o.dir, o.sock, o.path, sizeof(o.path)) != 0)
		return EXIT_FAILURE;
	if (strcmp(argv[0], "promote") == 0)
		return promote(&o);
	return strcmp(argv[0], "status") == 0 ? status(&o) : remove_node(&o, argv[1]);
}
