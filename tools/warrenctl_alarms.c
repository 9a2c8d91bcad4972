/*
 * warrenctl_alarms.c: rabbitmqctl's set_vm_memory_high_watermark and set_disk_free_limit in
 * warrenctl(8): the control socket's "limit memory N" and "limit disk N", which change warrend's
 * memory_limit and disk_free_limit until it restarts (as rabbitmqctl's last until the node does)
 * and judge the memory and disk alarms again at once. A fraction is of this machine's RAM
 * (warrenctl runs where warrend does: the control socket is local). Warren's memory_limit counts
 * the memory messages hold, not the process's (warren.conf(5)).
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/warrenctl.h"

/* The machine's RAM in bytes. */
static double total_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

/* A fraction: a number from lo, at most hi (hi < 0: no bound). */
static int parse_fraction(const char *s, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return *s == '\0' || *end != '\0' || errno != 0 || !(*out >= 0) || (hi >= 0 && *out > hi)
	    ? -1
	    : 0;
}

/* A size as rabbitmqctl takes one: bytes, or a number with k, kiB, kB, M, MiB, MB, G, GiB, GB... */
static int parse_rabbit_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = { { "", 1 }, { "k", 1024 }, { "K", 1024 }, { "kiB", 1024 }, { "KiB", 1024 },
		{ "kB", 1000 }, { "KB", 1000 }, { "M", 1024 * 1024 }, { "m", 1024 * 1024 },
		{ "MiB", 1024 * 1024 }, { "MB", 1000 * 1000 }, { "G", 1ULL << 30 },
		{ "g", 1ULL << 30 }, { "GiB", 1ULL << 30 }, { "GB", 1000ULL * 1000 * 1000 },
		{ "T", 1ULL << 40 }, { "TiB", 1ULL << 40 },
		{ "TB", 1000ULL * 1000 * 1000 * 1000 } };
	unsigned long long n;
	char *end;
	size_t i;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (n > UINT64_MAX / units[i].mult)
				return -1;
			*out = n * units[i].mult;
			return 0;
		}
	return -2; /* a number with units rabbitmqctl would not take */
}

/* This node's name, for the info line (as status prints it). */
static void node_name(struct ctl_opts *o, char *out, size_t cap)
{
	snprintf(out, cap, "warren");
	if (!o->quiet && !o->json)
		api_node_name(o, out, cap);
}

/* Send "limit WHAT N" and read the answer: 0, or EXIT_FAILURE (printed). */
static int send_limit(struct ctl_opts *o, const char *what, uint64_t n)
{
	struct api_answer a;
	char line[64], *st, *detail;
	int len, r = EXIT_FAILURE;

	api_answer_init(o, &a);
	len = snprintf(line, sizeof(line), "limit %s %llu\n", what, (unsigned long long)n);
	if (ctl_send(o, &a, line, (size_t)len, NULL, 0) != 0 || (st = api_line(&a)) == NULL)
		goto out;
	if (strcmp(st, "ok") != 0) {
		detail = api_line(&a);
		fprintf(
		    stderr, "Error:\n%s\n", detail != NULL ? detail : "warrend refused the limit");
		goto out;
	}
	r = EXIT_SUCCESS;
out:
	api_close(&a);
	return r;
}

static int usage_error(const char *why, struct ctl_opts *o, const char *cmd)
{
	int i;

	fprintf(stderr, "Error (argument validation): Bad argument%s%s\nArguments given:\n\t%s",
	    why != NULL ? ": " : ".", why != NULL ? why : "", cmd);
	for (i = 0; i < o->argc; i++)
		fprintf(stderr, " %s", o->argv[i]);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* set_vm_memory_high_watermark FRACTION | absolute SIZE */
static int set_memory(struct ctl_opts *o, const char *cmd)
{
	char node[256];
	double f = 0, ram = total_ram();
	uint64_t n;
	int pr;

	if (o->argc == 2 && strcmp(o->argv[0], "absolute") == 0) {
		if ((pr = parse_rabbit_size(o->argv[1], &n)) != 0)
			return usage_error(pr == -2 ? "Invalid units." : NULL, o, cmd);
		node_name(o, node, sizeof(node));
		ctl_info(o, "Setting memory threshold on %s to %s bytes ...", node, o->argv[1]);
	} else if (o->argc == 1) {
		if (strchr("0123456789.-", o->argv[0][0]) == NULL)
			return usage_error(NULL, o, cmd);
		if (parse_fraction(o->argv[0], 1.0, &f) != 0)
			return usage_error(
			    "The threshold should be a fraction between 0.0 and 1.0", o, cmd);
		n = (uint64_t)(f * ram);
		node_name(o, node, sizeof(node));
		ctl_info(o, "Setting memory threshold on %s to %s ...", node, o->argv[0]);
	} else {
		return -1;
	}
	fflush(stdout);
	return send_limit(o, "memory", n);
}

/* set_disk_free_limit SIZE | mem_relative FRACTION */
static int set_disk(struct ctl_opts *o, const char *cmd)
{
	char node[256];
	double f = 0;
	uint64_t n;
	int pr;

	if (o->argc == 2 && strcmp(o->argv[0], "mem_relative") == 0) {
		if (parse_fraction(o->argv[1], -1, &f) != 0)
			return usage_error(NULL, o, cmd);
		n = (uint64_t)(f * total_ram());
		node_name(o, node, sizeof(node));
		ctl_info(o, "Setting disk free limit on %s to %s times the total RAM ...", node,
		    o->argv[1]);
	} else if (o->argc == 1) {
		if ((pr = parse_rabbit_size(o->argv[0], &n)) != 0)
			return usage_error(pr == -2 ? "Invalid units." : NULL, o, cmd);
		node_name(o, node, sizeof(node));
		ctl_info(o, "Setting disk free limit on %s to %s bytes ...", node, o->argv[0]);
	} else {
		return -1;
	}
	fflush(stdout);
	return send_limit(o, "disk", n);
}

int rmq_alarms_cmd(struct ctl_opts *o, const char *cmd)
{
	return strcmp(cmd, "set_disk_free_limit") == 0 ? set_disk(o, cmd) : set_memory(o, cmd);
}
