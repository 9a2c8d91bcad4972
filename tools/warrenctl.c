/*
 * warrenctl.c: Warren's administration tool, warrenctl(8). One binary, one table of subcommands
 * (like tmux's cmd_entry): each entry names the command, its usage line and the function that
 * runs it with its own arguments, so adding one is adding a function and a row. Exit status: 0
 * done, 1 the command failed (a bad file, a refused password, a rejected reload), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "amqp/amqp.h"
#include "auth/auth.h"
#include "server/server.h"
#include "tools/warrenctl.h"

#define PASSWORD_MAX 4096

static int cmd_hash_password(const struct cmd *self, int argc, char **argv);
static int cmd_check_config(const struct cmd *self, int argc, char **argv);
static int cmd_store(const struct cmd *self, int argc, char **argv);
static int cmd_reload(const struct cmd *self, int argc, char **argv);

static const struct cmd cmds[] = {
	{
	    .name = "hash-password",
	    .usage = "hash-password [--user NAME]",
	    .summary = "read a password from standard input and print its hash (or a "
	               "users-file line for NAME)",
	    .fn = cmd_hash_password,
	},
	{
	    .name = "check-config",
	    .usage = "check-config {--config FILE | --users FILE [--vhosts DIR] [--saslauthd]}",
	    .summary = "check a users file and a directory of vhost files as warrend "
	               "would load them (those a warren.conf names, with its password_backend)",
	    .fn = cmd_check_config,
	},
	{
	    .name = "reload",
	    .usage = "reload [--config FILE | --data-dir DIR | --socket PATH] [--timeout SECONDS]",
	    .summary = "make a running warrend re-read its users file, vhost files and TLS "
	               "certificate, and print what changed (or why nothing did)",
	    .fn = cmd_reload,
	},
	{
	    .name = "cluster",
	    .usage =
	        "cluster {status [--formatter json] | remove HOST:PORT | promote} [--config FILE "
	        "| --data-dir DIR | --socket PATH]",
	    .summary = "a cluster node's view of its group (every node's role and connection, "
	               "this node's log position), take a node out of the group, or make the "
	               "replica of a two-node group whose other node is gone master",
	    .fn = cmd_cluster,
	},
	{
	    .name = "store-dump",
	    .usage = "store-dump --data-dir DIR",
	    .summary =
	        "print a stopped broker's store: exchanges, queues, bindings, message counts",
	    .fn = cmd_store,
	},
	{
	    .name = "store-verify",
	    .usage = "store-verify --data-dir DIR",
	    .summary = "check a stopped broker's store: every record parses, every entry has its "
	               "queue and message, every message is in a queue",
	    .fn = cmd_store,
	},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: warrenctl COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %s\n      %s\n", cmds[i].usage, cmds[i].summary);
	fprintf(f, "\nrabbitmqctl's commands, on a running warrend's control socket:\n");
	for (i = 0; i < rmq_ncmds; i++)
		fprintf(f, "  %s\n      %s\n", rmq_cmds[i].usage, rmq_cmds[i].summary);
	fprintf(f, "\nwarrenctl COMMAND --help shows one command's usage.\n");
}

int cmd_usage(const struct cmd *c)
{
	fprintf(stderr, "usage: warrenctl %s\n", c->usage);
	return EXIT_USAGE;
}

/* ---- hash-password ---- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void restore_tty(void)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_saved = 0;
}

/* Put the terminal back before dying of a signal that arrived during the prompt. */
static void on_signal(int sig)
{
	restore_tty();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Read one line into buf (cap bytes, NUL-terminated, without its "\n" or "\r\n"). On a terminal,
 * prompt on stderr with echo off. Returns the length, -1 on a read error, -2 if it does not fit.
 */
static long read_line(const char *prompt, char *buf, size_t cap, bool tty)
{
	struct termios t;
	bool overflow = false;
	size_t n = 0;
	int c;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
			return -1;
		t = saved_tty;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tty_saved = 1;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0) {
			tty_saved = 0;
			return -1;
		}
	}
	while ((c = getchar()) != EOF && c != '\n') {
		if (n + 1 < cap)
			buf[n++] = (char)c;
		else
			overflow = true; /* read on to the end of the line, then fail */
	}
	if (tty) {
		restore_tty();
		fputc('\n', stderr);
	}
	if (c == EOF && ferror(stdin))
		return -1;
	if (overflow)
		return -2;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (long)n;
}

/* A users-file name: 1 to 255 bytes, no ':' and no control characters. */
static bool valid_user(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 255)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ':')
			return false;
	return true;
}

static int cmd_hash_password(const struct cmd *self, int argc, char **argv)
{
	static const struct option opts[] = { { "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	char pw[PASSWORD_MAX + 2], again[PASSWORD_MAX + 2], hash[AUTH_HASH_MAX];
	const char *user = NULL;
	bool tty = isatty(STDIN_FILENO) == 1;
	long n, m;
	int c, ret = EXIT_FAILURE;

	while ((c = getopt_long(argc, argv, "u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'h': printf("usage: warrenctl %s\n", self->usage); return EXIT_SUCCESS;
		default: return cmd_usage(self);
		}
	}
	if (optind != argc)
		return cmd_usage(self);
	if (user != NULL && !valid_user(user)) {
		fprintf(stderr,
		    "warrenctl: a user name is 1 to 255 bytes without ':' or control "
		    "characters\n");
		return EXIT_USAGE;
	}
	if (tty) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		signal(SIGHUP, on_signal);
	}
	n = read_line("Password: ", pw, sizeof(pw), tty);
	if (n == -2 || n > PASSWORD_MAX) {
		fprintf(stderr, "warrenctl: a password is at most %d bytes\n", PASSWORD_MAX);
		goto out;
	}
	if (n < 0) {
		fprintf(stderr, "warrenctl: reading the password: %s\n", strerror(errno));
		goto out;
	}
	if (n == 0) { /* RabbitMQ refuses blank passwords at login: do not make one */
		fprintf(stderr, "warrenctl: empty password\n");
		goto out;
	}
	if (memchr(pw, '\0', (size_t)n) != NULL) { /* SASL PLAIN could never carry it */
		fprintf(stderr, "warrenctl: a NUL byte in the password\n");
		goto out;
	}
	if (tty) {
		m = read_line("Again: ", again, sizeof(again), tty);
		if (m != n || CRYPTO_memcmp(pw, again, (size_t)n) != 0) {
			fprintf(stderr, "warrenctl: the passwords differ\n");
			goto out;
		}
	}
	if ((c = auth_hash_password((struct amqp_bytes){ (const uint8_t *)pw, (size_t)n }, hash,
	         sizeof(hash))) != AUTH_OK) {
		fprintf(stderr, "warrenctl: %s\n", auth_strerror(c));
		goto out;
	}
	if (user != NULL)
		printf("%s:%s\n", user, hash);
	else
		printf("%s\n", hash);
	ret = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(again, sizeof(again));
	return ret;
}

/* ---- check-config ---- */

/* Read a warren.conf as warrend would (errors go to stderr): 0, or -1. */
static int read_config(const char *path, struct server_options *opt, struct broker_config *cfg)
{
	*opt = (struct server_options){ .data_dir = SERVER_DEFAULT_DATA_DIR };
	broker_config_defaults(cfg);
	return path != NULL ? config_load(path, opt, cfg) : 0;
}

static int cmd_check_config(const struct cmd *self, int argc, char **argv)
{
	static const struct option opts[] = { { "users", required_argument, NULL, 'u' },
		{ "vhosts", required_argument, NULL, 'v' },
		{ "config", required_argument, NULL, 'c' }, { "saslauthd", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *users = NULL, *vhosts = NULL, *config = NULL;
	enum auth_backend backend = AUTH_BACKEND_INTERNAL;
	/* Static: what the configuration allocated stays reachable until exit (as in warrend). */
	static struct server_options opt;
	static struct broker_config cfg;
	struct auth_db *db;
	char err[1024];
	int c;

	while ((c = getopt_long(argc, argv, "u:v:c:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'u': users = optarg; break;
		case 'v': vhosts = optarg; break;
		case 'c': config = optarg; break;
		case 's': backend = AUTH_BACKEND_SASLAUTHD; break;
		case 'h': printf("usage: warrenctl %s\n", self->usage); return EXIT_SUCCESS;
		default: return cmd_usage(self);
		}
	}
	if (optind != argc || (users == NULL) == (config == NULL) ||
	    (config != NULL && (vhosts != NULL || backend != AUTH_BACKEND_INTERNAL)))
		return cmd_usage(self);
	if (config != NULL) {
		if (read_config(config, &opt, &cfg) != 0)
			return EXIT_FAILURE;
		if (cfg.users_file == NULL) {
			printf("ok: no users_file in %s: warrend has the built-in guest user\n",
			    config);
			return EXIT_SUCCESS;
		}
		users = cfg.users_file;
		vhosts = cfg.vhost_dir;
		backend = cfg.password_backend;
	}
	if (auth_db_load_backend(users, vhosts, backend, &db, err, sizeof(err)) != AUTH_OK) {
		fprintf(stderr, "%s\n", err);
		return EXIT_FAILURE;
	}
	printf("ok: %zu user%s, %zu vhost%s\n", auth_db_user_count(db),
	    auth_db_user_count(db) == 1 ? "" : "s", auth_db_vhost_count(db),
	    auth_db_vhost_count(db) == 1 ? "" : "s");
	/* The nodes of a cluster need the same files: this line is the same on each if they are. */
	printf("files: sha256 %s\n", auth_db_fingerprint(db));
	auth_db_unref(db);
	return EXIT_SUCCESS;
}

/* ---- reload ---- */

#define ANSWER_MAX (1 << 20)

/* Send "reload" on the control socket at path and print the answer: the exit status. */
static int control_reload(const char *path, int timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char answer[ANSWER_MAX + 1];
	size_t have = 0;
	time_t deadline = time(NULL) + timeout_s;
	char *body;
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "warrenctl: %s: longer than a unix socket path may be\n", path);
		return EXIT_FAILURE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "warrenctl: cannot connect to %s: %s (is warrend running?)\n", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_FAILURE;
	}
	if (write(fd, "reload\n", 7) != 7) {
		fprintf(stderr, "warrenctl: %s: %s\n", path, strerror(errno));
		close(fd);
		return EXIT_FAILURE;
	}
	/* Read to EOF: warrend closes once the whole answer is written. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		time_t left = deadline - time(NULL);

		if (left <= 0 || poll(&p, 1, (int)left * 1000) == 0) {
			fprintf(
			    stderr, "warrenctl: no answer from warrend within %d s\n", timeout_s);
			close(fd);
			return EXIT_FAILURE;
		}
		n = read(fd, answer + have, ANSWER_MAX - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "warrenctl: %s: %s\n", path, strerror(errno));
			close(fd);
			return EXIT_FAILURE;
		}
		if (n == 0 || (have += (size_t)n) == ANSWER_MAX)
			break;
	}
	close(fd);
	answer[have] = '\0';
	if ((body = strchr(answer, '\n')) == NULL) {
		fprintf(stderr, "warrenctl: an answer without a status line from %s\n", path);
		return EXIT_FAILURE;
	}
	*body++ = '\0';
	if (strcmp(answer, "ok") == 0) {
		fputs(body, stdout);
		return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	if (strcmp(answer, "error") == 0) {
		fputs(body, stderr);
		return EXIT_FAILURE;
	}
	fprintf(stderr, "warrenctl: an unexpected answer from %s: %.80s\n", path, answer);
	return EXIT_FAILURE;
}

static int cmd_reload(const struct cmd *self, int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	const char *config = NULL, *dir = NULL, *sock = NULL;
	char path[256], *end;
	long timeout = 30;
	int c;

	while ((c = getopt_long(argc, argv, "c:d:s:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'd': dir = optarg; break;
		case 's': sock = optarg; break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || timeout < 1 || timeout > 3600)
				return cmd_usage(self);
			break;
		case 'h': printf("usage: warrenctl %s\n", self->usage); return EXIT_SUCCESS;
		default: return cmd_usage(self);
		}
	}
	if (optind != argc || (sock != NULL && (config != NULL || dir != NULL)))
		return cmd_usage(self);
	if (control_socket_find(config, dir, sock, path, sizeof(path)) != 0)
		return EXIT_FAILURE;
	return control_reload(path, (int)timeout);
}

int control_socket_find(
    const char *config, const char *dir, const char *sock, char *out, size_t len)
{
	static struct server_options opt; /* static: see cmd_check_config */
	static struct broker_config cfg;
	char err[512];
	int r;

	if (sock != NULL) {
		if (strlen(sock) >= len) {
			fprintf(
			    stderr, "warrenctl: %s: longer than a unix socket path may be\n", sock);
			return -1;
		}
		memcpy(out, sock, strlen(sock) + 1);
		return 0;
	}
	/* Where warrend puts it: control_socket, else DATA_DIR/control.sock. */
	if (read_config(config, &opt, &cfg) != 0)
		return -1;
	if (dir != NULL)
		opt.data_dir = dir;
	if ((r = config_control_socket(&opt, out, len, err, sizeof(err))) < 0) {
		fprintf(stderr, "warrenctl: %s\n", err);
		return -1;
	}
	if (r > 0) {
		fprintf(stderr,
		    "warrenctl: %s turns the control socket off "
		    "(control_socket = none): send warrend SIGHUP instead\n",
		    config);
		return -1;
	}
	return 0;
}

/* ---- store-dump, store-verify ---- */

static int cmd_store(const struct cmd *self, int argc, char **argv)
{
	static const struct option opts[] = { { "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	const char *dir = NULL;
	char err[1024];
	int c;

	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h': printf("usage: warrenctl %s\n", self->usage); return EXIT_SUCCESS;
		default: return cmd_usage(self);
		}
	}
	if (optind != argc || dir == NULL)
		return cmd_usage(self);
	if (persist_dump(dir, stdout, strcmp(self->name, "store-verify") == 0, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "warrenctl: %s\n", err);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

/*
 * rabbitmqctl takes options before the command too ("rabbitmqctl -q list_queues"): move the first
 * word that is not an option (nor an option's value) to argv[1]; the command's getopt_long,
 * which permutes, then takes the options wherever they are.
 */
static void command_first(int argc, char **argv)
{
	char *name;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++)
		if (rmq_option_takes_value(argv[i]) && i + 1 < argc)
			i++;
	if (i == 1 || i >= argc || argv[i][0] == '-')
		return;
	name = argv[i];
	memmove(argv + 2, argv + 1, (size_t)(i - 1) * sizeof(*argv));
	argv[1] = name;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	command_first(argc, argv);
	for (i = 0; i < NCMDS; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			optind = 1; /* the command's own options start after its name */
			return cmds[i].fn(&cmds[i], argc - 1, argv + 1);
		}
	}
	for (i = 0; i < rmq_ncmds; i++) {
		if (strcmp(argv[1], rmq_cmds[i].name) == 0) {
			optind = 1;
			return rmq_cmds[i].fn(&rmq_cmds[i], argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "warrenctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
