/*
 * warrenctl.h: what the files of warrenctl(8) share: the subcommand table's row, the exit
 * statuses, where a running warrend's control socket is, the rabbitmqctl verbs
 * (warrenctl_rmq.c) and the requests they make on that socket (warrenctl_api.c).
 */
#ifndef WARREN_TOOLS_WARRENCTL_H
#define WARREN_TOOLS_WARRENCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define EXIT_USAGE 2

struct cmd {
	const char *name;
	const char *usage;
	const char *summary;
	int (*fn)(const struct cmd *self, int argc, char **argv);
};

/* warrenctl.c */
/* Print the command's usage on stderr: EXIT_USAGE. */
int cmd_usage(const struct cmd *c);
/*
 * Where warrend's control socket is: sock if given, else what the warren.conf config (or the
 * defaults) and the data directory dir (if given) say. 0 with the path in out, or -1 (printed).
 */
int control_socket_find(
    const char *config, const char *dir, const char *sock, char *out, size_t len);

/* The options every rabbitmqctl verb takes, and its positional arguments. */
struct ctl_opts {
	const char *vhost;
	bool quiet, no_headers, json, if_empty, if_unused;
	const char *config, *dir, *sock;
	const char *priority, *apply_to; /* set_policy's --priority and --apply-to */
	bool global;                     /* list_vhost_limits and close_all_connections --global */
	const char *limit;               /* close_all_connections --limit */
	int timeout;                     /* seconds warrend may stay silent */
	char path[256];                  /* the control socket */
	int argc;
	char **argv;
};

/* warrenctl_api.c: one api request's answer, read line by line. */
struct api_answer {
	int fd, status, timeout;
	char *buf;
	size_t start, len, cap; /* unread bytes are buf[start, len) */
};
#define NAME_ENC_MAX (3 * 1024 + 1) /* a name of up to 1,024 bytes, percent-encoded */
/* Percent-encode s (a path segment, a query value, a header word) into out. */
const char *api_enc(const char *s, char *out, size_t cap);
/*
 * Send "api METHOD TARGET [HEADER]" (and body, if not NULL) to o->path and read the status line:
 * 0 with a->status set, or -1 (printed). header is one NAME=VALUE word, or NULL. Close a after.
 */
int api_request(struct ctl_opts *o, struct api_answer *a, const char *method, const char *target,
    const char *header, const char *body, size_t blen);
/* An answer not read yet (api_close it after use). */
void api_answer_init(struct ctl_opts *o, struct api_answer *a);
/*
 * Connect to the control socket and send line (n bytes, its newline included) and body (if not
 * NULL): 0, or -1 (printed). a (api_answer_init) is then read with api_line.
 */
int ctl_send(struct ctl_opts *o, struct api_answer *a, const char *line, size_t n, const char *body,
    size_t blen);
/* The next line of the answer (NUL-terminated, valid until the next call), or NULL (printed). */
char *api_line(struct api_answer *a);
/* The answer's one JSON document and its end line ({} for none), or NULL (printed). */
json_t *api_json(struct api_answer *a);
void api_close(struct api_answer *a);
/* Print an error answer as rabbitmqctl does ("Error:" and what, or warrend's reason): 1. */
int api_error(struct api_answer *a, const char *what);
/* GET target's document: 0 with *out, or 1 (printed). */
int api_get_json(struct ctl_opts *o, const char *target, json_t **out);
/* Whether /api/{kind}/{name} exists (kind "vhosts" or "users"). */
bool api_exists(struct ctl_opts *o, const char *kind, const char *name);
/* The node's name as warrend gives it (out is left alone on a failure): 0, or 1 (printed). */
int api_node_name(struct ctl_opts *o, char *out, size_t cap);
/*
 * PUT or DELETE target (body NULL: none): 0 once answered with a document, or EXIT_FAILURE
 * (printed: not_found on a 404 if not NULL, else warrend's reason).
 */
int api_change(struct ctl_opts *o, const char *method, const char *target, const char *body,
    const char *not_found);

/* warrenctl_cluster.c: cluster status, cluster remove HOST:PORT. */
int cmd_cluster(const struct cmd *self, int argc, char **argv);

/* warrenctl_rmq.c: status, list_*, close_connection, purge_queue, delete_queue, definitions. */
/* warrenctl_policy.c: set_policy, clear_policy and their operator forms: an exit status, or -1
 * for a usage error. */
/* An info line ("Listing queues ..."): not with -q or --formatter json (warrenctl_rmq.c). */
void ctl_info(const struct ctl_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rmq_policy_cmd(struct ctl_opts *o, const char *cmd);
/* warrenctl_limits.c: set_vhost_limits, clear_vhost_limits, list_vhost_limits (the same). */
int rmq_limits_cmd(struct ctl_opts *o, const char *cmd);
/* warrenctl_users.c: add_user, delete_user, change_password, clear_password, set_user_tags,
 * add_vhost, delete_vhost, set_permissions, clear_permissions and the topic forms (the same). */
int rmq_users_cmd(struct ctl_opts *o, const char *cmd);
/* warrenctl_alarms.c: set_vm_memory_high_watermark and set_disk_free_limit (the same). */
int rmq_alarms_cmd(struct ctl_opts *o, const char *cmd);
/* warrenctl_node.c: ping and await_startup (the same). */
int rmq_node_cmd(struct ctl_opts *o, const char *cmd);
extern const struct cmd rmq_cmds[];
extern const size_t rmq_ncmds;
/* Whether an option of the verbs takes a value (for options given before the verb's name). */
int rmq_option_takes_value(const char *arg);

#endif /* WARREN_TOOLS_WARRENCTL_H */
