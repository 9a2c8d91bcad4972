/*
 * warrenctl.h: what the files of warrenctl(8) share: the subcommand table's row, the exit
 * statuses, where a running warrend's control socket is, and the rabbitmqctl verbs
 * (warrenctl_rmq.c), which talk to warrend over that socket.
 */
#ifndef WARREN_TOOLS_WARRENCTL_H
#define WARREN_TOOLS_WARRENCTL_H

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

/* warrenctl_rmq.c: status, list_*, close_connection, purge_queue, delete_queue, definitions. */
extern const struct cmd rmq_cmds[];
extern const size_t rmq_ncmds;
/* Whether an option of the verbs takes a value (for options given before the verb's name). */
int rmq_option_takes_value(const char *arg);

#endif /* WARREN_TOOLS_WARRENCTL_H */
