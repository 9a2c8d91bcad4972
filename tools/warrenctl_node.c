/*
 * warrenctl_node.c: rabbitmqctl's ping and await_startup in warrenctl(8). warrend serves its
 * control socket only once its store is open and every listener is bound (server/admin/main.c),
 * so an answer there means the broker is up: ping asks once, await_startup waits for the first
 * answer (a container's health check, a script that starts warrend and then declares).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tools/warrenctl.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether a connection to the control socket is accepted (nothing printed). */
static bool accepts(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool yes;

	if (fd < 0)
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	yes = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return yes;
}

int rmq_node_cmd(struct ctl_opts *o, const char *cmd)
{
	char node[256] = "warrend";
	double deadline;

	if (o->argc != 0)
		return -1;
	if (strcmp(cmd, "ping") == 0) {
		ctl_info(o,
		    "Will ping warrend on %s. This only checks that it answers on its control "
		    "socket. Timeout: %d000 ms.",
		    o->path, o->timeout);
		fflush(stdout);
		if (api_node_name(o, node, sizeof(node)) != 0)
			return EXIT_FAILURE;
		ctl_info(o, "Ping succeeded");
		return EXIT_SUCCESS;
	}
	/* await_startup: until the socket takes a connection and warrend answers on it */
	deadline = now_s() + o->timeout;
	while (!accepts(o->path)) {
		if (now_s() >= deadline) {
			fprintf(stderr,
			    "Error:\nwarrend did not start within %d s (no answer on %s)\n",
			    o->timeout, o->path);
			return EXIT_FAILURE;
		}
		usleep(100 * 1000);
	}
	return api_node_name(o, node, sizeof(node));
}
