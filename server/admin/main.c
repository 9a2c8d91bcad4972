/*
 * main.c: warrend's entry point: options, the event loop, signals.
 */
#include <event2/event.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "server/admin/admin.h"

/* As RabbitMQ's: every IPv4 and every IPv6 address (the second skipped on a host without IPv6). */
#define DEFAULT_LISTEN "0.0.0.0:5672"
#define DEFAULT_LISTEN6 "[::]:5672"

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: warrend [--listen ADDR:PORT]... [--management-listen ADDR:PORT|none]\n"
	    "               [--management-tls-listen ADDR:PORT|none]\n"
	    "               [--prometheus-listen ADDR:PORT|none] [--data-dir DIR] [--log-level "
	    "LEVEL]\n"
	    "  --listen ADDR:PORT  listen there (default " DEFAULT_LISTEN " and " DEFAULT_LISTEN6
	    "; repeatable)\n"
	    "  --management-listen ADDR:PORT|none\n"
	    "                      the HTTP API there (default " MGMT_DEFAULT_LISTEN "), or none\n"
	    "  --management-tls-listen ADDR:PORT|none\n"
	    "                      the HTTP API over TLS there (default none; needs tls_cert)\n"
	    "  --prometheus-listen ADDR:PORT|none\n"
	    "                      Prometheus metrics there (default " PROM_DEFAULT_LISTEN
	    "), or none\n"
	    "  --data-dir DIR      keep the store in DIR (default " SERVER_DEFAULT_DATA_DIR ")\n"
	    "  --log-level LEVEL   error, warn, info (default) or debug\n"
	    "  --ready-fd N        once listening, write each bound ADDR:PORT to fd N, then close "
	    "it\n");
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	struct timeval grace = { 5, 0 };

	if (broker.stopping) {
		log_info("%s again: exiting now", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		event_base_loopexit(base, NULL);
		return;
	}
	log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	broker.stopping = true;
	server_stop_listening();
	http_stop_listening();
	prom_stop_listening();
	conn_close_all(
	    AMQP_CONNECTION_FORCED, "broker forced connection closure with reason 'shutdown'");
	if (conn_none_left())
		event_base_loopexit(base, NULL);
	else
		event_base_loopexit(base, &grace); /* clients get a moment to answer close-ok */
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	log_info("SIGHUP: reloading the users and vhost files, and the TLS certificates");
	reload_run(NULL);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "management-listen", required_argument, NULL, 'm' },
		{ "management-tls-listen", required_argument, NULL, 'M' },
		{ "prometheus-listen", required_argument, NULL, 'p' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* Static: what the configuration allocated stays reachable until exit. */
	static struct server_options opt = { .data_dir = SERVER_DEFAULT_DATA_DIR,
		.log_level = LOG_INFO,
		.mgmt = { .listen = MGMT_DEFAULT_LISTEN,
		    .tls_listen = "none",
		    .max_headers = 16384,
		    .max_body = 8 * 1024 * 1024,
		    .timeout = 30,
		    .sample_ms = STATS_INTERVAL_MS },
		.prometheus_listen = PROM_DEFAULT_LISTEN };
	static struct broker_config cfg;
	struct event_base *base = NULL;
	struct event_config *ecfg = NULL;
	struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
	const char *cli_listen[SERVER_MAX_LISTENERS], *cli_data_dir = NULL, *cli_mgmt = NULL,
	                                              *cli_mgmt_tls = NULL, *cli_prom = NULL;
	enum log_level cli_level = LOG_INFO;
	bool cli_level_set = false, listen_default = false;
	char err[512], control_path[256];
	sigset_t stop_signals;
	int ch, i, ret = 1, ready_fd = -1, ncli_listen = 0;
	char *end;

	broker_config_defaults(&cfg);
	while ((ch = getopt_long(argc, argv, "c:l:m:M:p:d:v:r:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': opt.config_file = optarg; break;
		case 'l':
			if (ncli_listen == SERVER_MAX_LISTENERS) {
				fprintf(stderr, "warrend: at most %d listeners\n",
				    SERVER_MAX_LISTENERS);
				return 2;
			}
			cli_listen[ncli_listen++] = optarg;
			break;
		case 'm': cli_mgmt = optarg; break;
		case 'M': cli_mgmt_tls = optarg; break;
		case 'p': cli_prom = optarg; break;
		case 'd': cli_data_dir = optarg; break;
		case 'v':
			if (log_parse_level(optarg, &cli_level) != 0) {
				fprintf(stderr,
				    "warrend: --log-level: '%s' is not error, warn, info or "
				    "debug\n",
				    optarg);
				return 2;
			}
			cli_level_set = true;
			break;
		case 'r':
			ready_fd = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || ready_fd < 0) {
				fprintf(stderr,
				    "warrend: --ready-fd: '%s' is not a file descriptor\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("warrend %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* The file first, then the command line over it. */
	if (opt.config_file != NULL && config_load(opt.config_file, &opt, &cfg) != 0)
		return 2;
	if (ncli_listen > 0) {
		for (i = 0; i < ncli_listen; i++)
			opt.listen[i] = cli_listen[i];
		opt.nlisten = ncli_listen;
	}
	if (cli_data_dir != NULL)
		opt.data_dir = cli_data_dir;
	if (cli_mgmt != NULL)
		opt.mgmt.listen = cli_mgmt;
	if (cli_mgmt_tls != NULL)
		opt.mgmt.tls_listen = cli_mgmt_tls;
	if (cli_prom != NULL)
		opt.prometheus_listen = cli_prom;
	if (cli_level_set)
		opt.log_level = cli_level;
	if (opt.nlisten == 0) {
		opt.listen[opt.nlisten++] = DEFAULT_LISTEN;
		opt.listen[opt.nlisten++] = DEFAULT_LISTEN6;
		listen_default = true;
	}
	log_set_level(opt.log_level);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * A cluster node starts again by itself (on losing the master role): SIGTERM or SIGINT
	 * meanwhile waits (blocked, in every thread started from here) for the handlers below.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	if (opt.cluster.host != NULL)
		pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	/*
	 * No evthread locking: only this thread touches libevent (the store and password threads
	 * report through eventfds), so every evbuffer and event operation stays lock-free.
	 */
	/*
	 * Precise timers: libevent 2.1 otherwise reads CLOCK_MONOTONIC_COARSE, which moves a kernel
	 * tick at a time (4 ms here), so a 200 us linger took 1-4 ms. The cost is a vDSO clock read
	 * per turn of the loop.
	 */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (base = event_base_new_with_config(ecfg)) == NULL) {
		log_error("cannot create the event loop");
		goto out;
	}
	broker_init(base, &cfg);
	conn_register_events();
	if (access_init(&cfg) != 0) {
		ret = 2; /* a configuration error, as warrend(8) says */
		goto out;
	}
	if (opt.cluster.host != NULL) {
		/* A cluster node: serves AMQP once master, forwards to it before (admin/cluster.c). */
		if (cluster_open(base, &opt, argv, err, sizeof(err)) != 0) {
			log_error("store: %s", err);
			goto out;
		}
	} else if (persist_open(opt.data_dir, err, sizeof(err)) != 0) {
		log_error("store: %s", err);
		goto out;
	}
	if (opt.nlisten_tls > 0 && (cfg.tls_cert == NULL || cfg.tls_key == NULL)) {
		log_error("listen_tls needs tls_cert and tls_key");
		goto out;
	}
	if (tls_init(&cfg) != 0)
		goto out;
	/* After the store: its LOCK says no other broker uses this directory's socket. */
	if ((i = config_control_socket(
	         &opt, control_path, sizeof(control_path), err, sizeof(err))) < 0 ||
	    (i == 0 && control_open(base, control_path, err, sizeof(err)) != 0)) {
		log_error("control socket: %s", err);
		goto out;
	}
	/* Signals before the listeners: once ready, a SIGHUP must reload, never kill. */
	sigterm = evsignal_new(base, SIGTERM, signal_cb, base);
	sigint = evsignal_new(base, SIGINT, signal_cb, base);
	sighup = evsignal_new(base, SIGHUP, sighup_cb, NULL);
	if (sigterm == NULL || sigint == NULL || sighup == NULL ||
	    evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sighup, NULL) != 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	if (opt.cluster.host != NULL)
		pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
	net_proxy_set(cfg.proxy_protocol, cfg.handshake_timeout);
	for (i = 0; i < opt.nlisten; i++)
		if (server_listen(base, opt.listen[i], ready_fd, false, listen_default && i == 1) !=
		    0)
			goto out;
	for (i = 0; i < opt.nlisten_tls; i++)
		if (server_listen(base, opt.listen_tls[i], ready_fd, true, false) != 0)
			goto out;
	if (opt.cluster.host != NULL && cluster_advertise(err, sizeof(err)) != 0) {
		log_error("cluster: %s", err);
		goto out;
	}
	if ((strcmp(opt.mgmt.listen, "none") != 0 || strcmp(opt.mgmt.tls_listen, "none") != 0) &&
	    http_start(base, &opt.mgmt, ready_fd) != 0)
		goto out;
	if (strcmp(opt.prometheus_listen, "none") != 0 &&
	    prom_start(base, opt.prometheus_listen, ready_fd) != 0)
		goto out;
	if (ready_fd >= 0)
		close(ready_fd);
	log_info("warrend %s started, data in %s", PACKAGE_VERSION, opt.data_dir);
	event_base_dispatch(base);
	cluster_reexec_if_demoted(); /* a node that lost the master role starts again (no return) */
	ret = 0;
out:
	control_close();
	server_stop_listening();
	http_free(); /* before the connections: no request refers to them afterwards */
	prom_free(); /* before the broker: a scrape holds a queue */
	conn_destroy_all();
	if (base != NULL)
		event_base_loop(base, EVLOOP_NONBLOCK); /* run the deferred frees */
	persist_close(); /* everything written is durable before the broker's state goes */
	access_free();
	broker_free();
	tls_free();
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (sighup != NULL)
		event_free(sighup);
	if (base != NULL)
		event_base_free(base);
	if (ecfg != NULL)
		event_config_free(ecfg);
	cluster_free();
	if (ret == 0)
		log_info("warrend stopped");
	return ret;
}
