/*
 * config.c: the main configuration file (warren.conf(5)): one `key = value` per line, `#` starts a
 * comment. Every error names the file and the line. Options given on the command line win over the
 * file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "server/admin/admin.h"

/* Parse a size: a number with an optional B, KiB, MiB, GiB, KB, MB or GB suffix. */
static int parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = { { "", 1 }, { "B", 1 }, { "KiB", 1024 }, { "MiB", 1024 * 1024 },
		{ "GiB", 1024ULL * 1024 * 1024 }, { "KB", 1000 }, { "MB", 1000 * 1000 },
		{ "GB", 1000ULL * 1000 * 1000 } };
	unsigned long long n;
	char *end;
	size_t i;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	while (*end == ' ')
		end++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > UINT64_MAX / units[i].mult)
				return -1;
			*out = n * units[i].mult;
			return 0;
		}
	}
	return -1;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long n;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return -1;
	*out = n;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

/* A path that fits a unix socket address (sun_path, with its NUL). */
static bool socket_path_fits(const char *s)
{
	struct sockaddr_un un;

	return strlen(s) < sizeof(un.sun_path);
}

/* A PAM-style service name: 1 to 64 letters, digits, '.', '_' or '-'. */
static bool service_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static const char *password_backend(struct broker_config *cfg, const char *value)
{
	if (strcmp(value, "internal") == 0) {
		cfg->password_backend = AUTH_BACKEND_INTERNAL;
	} else if (strcmp(value, "saslauthd") == 0) {
		if (!auth_saslauthd_built())
			return "warrend was built without Cyrus SASL (libsasl2): saslauthd is not "
			       "available";
		cfg->password_backend = AUTH_BACKEND_SASLAUTHD;
	} else if (strcmp(value, "sasldb") == 0 || strcmp(value, "auxprop") == 0) {
		return "sasldb keeps passwords in clear: Warren never uses it (use internal or "
		       "saslauthd)";
	} else {
		return "password_backend must be internal or saslauthd";
	}
	return NULL;
}

/* Apply one key; returns NULL or the reason it is wrong. */
static const char *config_apply(
    struct server_options *opt, struct broker_config *cfg, const char *key, const char *value)
{
	uint64_t n;

	if (strncmp(key, "cluster_", 8) == 0)
		return cluster_config_apply(&opt->cluster, key, value);
	if (strcmp(key, "listen") == 0) {
		if (opt->nlisten == SERVER_MAX_LISTENERS)
			return "too many listen lines";
		opt->listen[opt->nlisten++] = xstrdup(value);
	} else if (strcmp(key, "data_dir") == 0) {
		opt->data_dir = xstrdup(value);
	} else if (strcmp(key, "log_level") == 0) {
		if (log_parse_level(value, &opt->log_level) != 0)
			return "log_level must be error, warn, info or debug";
	} else if (strcmp(key, "frame_max") == 0) {
		if (parse_uint(value, UINT32_MAX, &n) != 0 || n < AMQP_FRAME_MIN_SIZE || n > 131072)
			return "frame_max must be a number from 4096 to 131072";
		cfg->frame_max = (uint32_t)n;
	} else if (strcmp(key, "channel_max") == 0) {
		if (parse_uint(value, 65535, &n) != 0 || n == 0)
			return "channel_max must be a number from 1 to 65535";
		cfg->channel_max = (uint16_t)n;
	} else if (strcmp(key, "heartbeat") == 0) {
		if (parse_uint(value, 65535, &n) != 0)
			return "heartbeat must be a number of seconds from 0 to 65535";
		cfg->heartbeat = (uint16_t)n;
	} else if (strcmp(key, "max_message_size") == 0) {
		if (parse_size(value, &n) != 0 || n == 0 || n > 536870912)
			return "max_message_size must be a size from 1 B to 512 MiB";
		cfg->max_message_size = n;
	} else if (strcmp(key, "memory_limit") == 0) {
		if (parse_size(value, &n) != 0 || n < 1024 * 1024)
			return "memory_limit must be a size of at least 1 MiB";
		cfg->mem_high = n;
		cfg->mem_low = n / 4 * 3;
	} else if (strcmp(key, "listen_tls") == 0) {
		if (opt->nlisten_tls == SERVER_MAX_LISTENERS)
			return "too many listen_tls lines";
		opt->listen_tls[opt->nlisten_tls++] = xstrdup(value);
	} else if (strcmp(key, "tls_cert") == 0) {
		cfg->tls_cert = xstrdup(value);
	} else if (strcmp(key, "tls_key") == 0) {
		cfg->tls_key = xstrdup(value);
	} else if (strcmp(key, "tls_ca") == 0) {
		cfg->tls_ca = xstrdup(value);
	} else if (strcmp(key, "tls_ciphers") == 0) {
		cfg->tls_ciphers = xstrdup(value);
	} else if (strcmp(key, "tls_ciphersuites") == 0) {
		cfg->tls_ciphersuites = xstrdup(value);
	} else if (strcmp(key, "tls_verify") == 0) {
		if (strcmp(value, "none") == 0)
			cfg->tls_verify = TLS_VERIFY_NONE;
		else if (strcmp(value, "optional") == 0)
			cfg->tls_verify = TLS_VERIFY_OPTIONAL;
		else if (strcmp(value, "required") == 0)
			cfg->tls_verify = TLS_VERIFY_REQUIRED;
		else
			return "tls_verify must be none, optional or required";
	} else if (strcmp(key, "tls_login_name") == 0) {
		if (strcmp(value, "common_name") == 0)
			cfg->tls_name = TLS_NAME_CN;
		else if (strcmp(value, "distinguished_name") == 0)
			cfg->tls_name = TLS_NAME_DN;
		else if (strcmp(value, "san_email") == 0)
			cfg->tls_name = TLS_NAME_SAN_EMAIL;
		else if (strcmp(value, "san_dns") == 0)
			cfg->tls_name = TLS_NAME_SAN_DNS;
		else if (strcmp(value, "san_uri") == 0)
			cfg->tls_name = TLS_NAME_SAN_URI;
		else
			return "tls_login_name must be common_name, distinguished_name, san_email, "
			       "san_dns or san_uri";
	} else if (strcmp(key, "user_max_connections") == 0) {
		if (parse_uint(value, 1000000000, &n) != 0)
			return "user_max_connections must be a number (0: no limit)";
		cfg->user_max_connections = (unsigned long)n;
	} else if (strcmp(key, "users_file") == 0) {
		cfg->users_file = xstrdup(value);
	} else if (strcmp(key, "vhost_dir") == 0) {
		cfg->vhost_dir = xstrdup(value);
	} else if (strcmp(key, "auth_threads") == 0) {
		if (parse_uint(value, 64, &n) != 0 || n == 0)
			return "auth_threads must be a number from 1 to 64";
		cfg->auth_threads = (unsigned)n;
	} else if (strcmp(key, "auth_cache_ttl") == 0) {
		if (parse_uint(value, 86400, &n) != 0)
			return "auth_cache_ttl must be a number of seconds from 0 to 86400";
		cfg->auth_cache_ttl = (unsigned)n;
	} else if (strcmp(key, "password_backend") == 0) {
		return password_backend(cfg, value);
	} else if (strcmp(key, "saslauthd_path") == 0) {
		if (value[0] != '/' || !socket_path_fits(value))
			return "saslauthd_path must be an absolute path of at most 107 bytes";
		cfg->saslauthd_path = xstrdup(value);
	} else if (strcmp(key, "saslauthd_service") == 0) {
		if (!service_name(value))
			return "saslauthd_service must be 1 to 64 letters, digits, '.', '_' or '-'";
		cfg->saslauthd_service = xstrdup(value);
	} else if (strcmp(key, "control_socket") == 0) {
		if (strcmp(value, "none") != 0 && (value[0] != '/' || !socket_path_fits(value)))
			return "control_socket must be none or an absolute path of at most 107 "
			       "bytes";
		opt->control_socket = xstrdup(value);
	} else if (strcmp(key, "disk_free_limit") == 0) {
		if (parse_size(value, &n) != 0)
			return "disk_free_limit must be a size";
		cfg->disk_free_limit = n;
	} else if (strcmp(key, "consumer_timeout") == 0) {
		if (parse_uint(value, UINT32_MAX, &n) != 0)
			return "consumer_timeout must be a number of milliseconds (0: no limit)";
		cfg->consumer_timeout = (uint32_t)n;
	} else if (strcmp(key, "handshake_timeout") == 0) {
		if (parse_uint(value, 3600, &n) != 0 || n == 0)
			return "handshake_timeout must be a number of seconds from 1 to 3600";
		cfg->handshake_timeout = (uint32_t)n;
	} else if (strcmp(key, "management_listen") == 0) {
		opt->mgmt.listen = xstrdup(value);
	} else if (strcmp(key, "management_tls_listen") == 0) {
		opt->mgmt.tls_listen = xstrdup(value);
	} else if (strcmp(key, "prometheus_listen") == 0) {
		opt->prometheus_listen = xstrdup(value);
	} else if (strcmp(key, "management_max_body") == 0) {
		if (parse_size(value, &n) != 0 || n < 1024 || n > 536870912)
			return "management_max_body must be a size from 1 KiB to 512 MiB";
		opt->mgmt.max_body = (size_t)n;
	} else if (strcmp(key, "management_max_headers") == 0) {
		if (parse_size(value, &n) != 0 || n < 1024 || n > 1048576)
			return "management_max_headers must be a size from 1 KiB to 1 MiB";
		opt->mgmt.max_headers = (size_t)n;
	} else if (strcmp(key, "collect_statistics_interval") == 0) {
		if (parse_uint(value, 3600000, &n) != 0 || n < 100)
			return "collect_statistics_interval must be a number of milliseconds from "
			       "100 "
			       "to 3600000";
		opt->mgmt.sample_ms = (unsigned)n;
	} else if (strcmp(key, "management_timeout") == 0) {
		if (parse_uint(value, 3600, &n) != 0 || n == 0)
			return "management_timeout must be a number of seconds from 1 to 3600";
		opt->mgmt.timeout = (unsigned)n;
	} else if (strcmp(key, "proxy_protocol") == 0) {
		if (parse_bool(value, &cfg->proxy_protocol) != 0)
			return "proxy_protocol must be true or false";
	} else if (strcmp(key, "guest_loopback_only") == 0) {
		if (parse_bool(value, &cfg->guest_loopback_only) != 0)
			return "guest_loopback_only must be true or false";
	} else {
		return "unknown key";
	}
	return NULL;
}

int config_load(const char *path, struct server_options *opt, struct broker_config *cfg)
{
	FILE *f = fopen(path, "r");
	char line[4096], *p, *eq, *key, *value, *end;
	const char *why;
	unsigned lineno = 0, backend_line = 0;
	int ret = 0;

	if (f == NULL) {
		fprintf(stderr, "warrend: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (opt->cluster.retry_ms == 0)
		cluster_config_defaults(&opt->cluster);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "warrend: %s:%u: line longer than %zu bytes\n", path,
			    lineno, sizeof(line) - 2);
			ret = -1;
			break;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '\0')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			fprintf(stderr, "warrend: %s:%u: expected 'key = value'\n", path, lineno);
			ret = -1;
			continue;
		}
		key = p;
		for (end = eq; end > key && isspace((unsigned char)end[-1]); end--)
			;
		*end = '\0';
		for (value = eq + 1; isspace((unsigned char)*value); value++)
			;
		for (end = value + strlen(value); end > value && isspace((unsigned char)end[-1]);
		     end--)
			;
		*end = '\0';
		if (*key == '\0' || *value == '\0') {
			fprintf(stderr, "warrend: %s:%u: expected 'key = value'\n", path, lineno);
			ret = -1;
			continue;
		}
		if ((why = config_apply(opt, cfg, key, value)) != NULL) {
			fprintf(stderr, "warrend: %s:%u: %s: %s\n", path, lineno, key, why);
			ret = -1;
		}
		if (strcmp(key, "password_backend") == 0)
			backend_line = lineno;
	}
	/* Permissions come from the vhost files: saslauthd users have none without them. */
	if (ret == 0 && cfg->password_backend == AUTH_BACKEND_SASLAUTHD &&
	    (cfg->users_file == NULL || cfg->vhost_dir == NULL)) {
		fprintf(stderr,
		    "warrend: %s:%u: password_backend: saslauthd needs users_file and vhost_dir "
		    "(the vhost files say what its users may do)\n",
		    path, backend_line);
		ret = -1;
	}
	if (ret == 0 && (why = cluster_config_check(&opt->cluster)) != NULL) {
		fprintf(stderr, "warrend: %s: %s\n", path, why);
		ret = -1;
	}
	if (ferror(f)) {
		fprintf(stderr, "warrend: %s: %s\n", path, strerror(errno));
		ret = -1;
	}
	fclose(f);
	return ret;
}

int config_control_socket(
    const struct server_options *opt, char *out, size_t len, char *err, size_t errlen)
{
	const char *dir = opt->data_dir != NULL ? opt->data_dir : SERVER_DEFAULT_DATA_DIR;
	int n;

	if (opt->control_socket != NULL && strcmp(opt->control_socket, "none") == 0)
		return 1;
	if (opt->control_socket != NULL)
		n = snprintf(out, len, "%s", opt->control_socket);
	else
		n = snprintf(out, len, "%s/%s", dir, CONTROL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= len || !socket_path_fits(out)) {
		snprintf(err, errlen,
		    "the control socket %s/%s is longer than a unix socket path may be (107 "
		    "bytes): set control_socket",
		    dir, CONTROL_SOCKET_NAME);
		return -1;
	}
	return 0;
}
