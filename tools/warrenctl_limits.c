/*
 * warrenctl_limits.c: rabbitmqctl's set_vhost_limits, clear_vhost_limits and list_vhost_limits
 * in warrenctl(8), as management API requests on the control socket (/api/vhost-limits):
 * warrend writes each limit as a max-connections or max-queues line of the vhost's file and
 * reloads before it answers. As rabbitmqctl's, set_vhost_limits replaces the vhost's limits
 * with those given (a limit left out is cleared) and a negative value means no limit;
 * DEFINITION is checked whole before anything is written.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/warrenctl.h"

#define LIMIT_MAX 2147483647LL /* what a vhost file holds */

static const char *const names[] = { "max-connections", "max-queues" };

/*
 * The rows of a GET of /api/vhost-limits[/{vhost}] (one JSON object a line, then "."): 0 with
 * *out (an array), or EXIT_FAILURE (printed; a missing vhost as rabbitmqctl says it).
 */
static int get_rows(struct ctl_opts *o, const char *vhost, json_t **out)
{
	char target[NAME_ENC_MAX + 32], e[NAME_ENC_MAX], *line;
	struct api_answer a;
	json_error_t jerr;
	json_t *rows = json_array(), *row;
	int r = EXIT_FAILURE;

	*out = NULL;
	snprintf(target, sizeof(target), "/api/vhost-limits%s%s", vhost != NULL ? "/" : "",
	    vhost != NULL ? api_enc(vhost, e, sizeof(e)) : "");
	if (api_request(o, &a, "GET", target, NULL, NULL, 0) != 0)
		goto out;
	if (a.status == 404 && vhost != NULL) {
		fprintf(stderr, "Error:\nVirtual host '%s' does not exist\n", vhost);
		goto out;
	}
	if (a.status >= 400) {
		api_error(&a, NULL);
		goto out;
	}
	while ((line = api_line(&a)) != NULL && strcmp(line, ".") != 0) {
		if ((row = json_loads(line, 0, &jerr)) == NULL) {
			fprintf(stderr, "warrenctl: a row is not JSON: %s\n", jerr.text);
			goto out;
		}
		json_array_append_new(rows, row);
	}
	if (line == NULL)
		goto out;
	*out = rows;
	rows = NULL;
	r = 0;
out:
	json_decref(rows);
	api_close(&a);
	return r;
}

/* A vhost's limits: 0 with *out (an object, {} for none), or EXIT_FAILURE (printed). */
static int get_limits(struct ctl_opts *o, const char *vhost, json_t **out)
{
	json_t *rows, *value;

	if (get_rows(o, vhost, &rows) != 0)
		return EXIT_FAILURE;
	value = json_object_get(json_array_get(rows, 0), "value");
	*out = json_is_object(value) ? json_deep_copy(value) : json_object();
	json_decref(rows);
	return 0;
}

/* PUT {"value": value} or DELETE of one limit: 0, or EXIT_FAILURE (printed). */
static int write_limit(
    struct ctl_opts *o, const char *vhost, const char *name, json_int_t value, bool clear)
{
	char target[NAME_ENC_MAX + 64], e[NAME_ENC_MAX], body[64], missing[NAME_ENC_MAX + 64];

	snprintf(
	    target, sizeof(target), "/api/vhost-limits/%s/%s", api_enc(vhost, e, sizeof(e)), name);
	snprintf(body, sizeof(body), "{\"value\":%" JSON_INTEGER_FORMAT "}", value);
	snprintf(missing, sizeof(missing), "Virtual host '%s' does not exist", vhost);
	return api_change(o, clear ? "DELETE" : "PUT", target, clear ? NULL : body, missing);
}

/* DEFINITION's limits, checked as RabbitMQ checks them: 0, or EXIT_FAILURE (printed). */
static int check_definition(const json_t *def)
{
	const char *key;
	json_t *v;
	char *t;

	if (!json_is_object(def)) {
		fprintf(stderr,
		    "Error:\nthe limits are a JSON object, such as "
		    "'{\"max-connections\": 100, \"max-queues\": 50}'\n");
		return EXIT_FAILURE;
	}
	json_object_foreach((json_t *)def, key, v)
	{
		t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (strcmp(key, names[0]) != 0 && strcmp(key, names[1]) != 0) {
			fprintf(stderr,
			    "Error:\nValidation failed\n\nUnrecognised terms [{<<\"%s\">>,%s}] in "
			    "limits\n",
			    key, t != NULL ? t : "?");
			free(t);
			return EXIT_FAILURE;
		}
		if (!json_is_integer(v)) {
			fprintf(stderr,
			    "Error:\nValidation failed\n\n%s should be a number, actually was "
			    "%s%s%s\n",
			    key, json_is_string(v) ? "<<" : "", t != NULL ? t : "?",
			    json_is_string(v) ? ">>" : "");
			free(t);
			return EXIT_FAILURE;
		}
		free(t);
		if (json_integer_value(v) > LIMIT_MAX) {
			fprintf(stderr,
			    "Error:\nValidation failed\n\n%s %" JSON_INTEGER_FORMAT
			    " is more than a vhost file holds (%lld at most)\n",
			    key, json_integer_value(v), LIMIT_MAX);
			return EXIT_FAILURE;
		}
	}
	return 0;
}

static int set_vhost_limits(struct ctl_opts *o)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/";
	json_error_t jerr;
	json_t *def, *v;
	size_t i;
	int r = EXIT_FAILURE;

	if (o->argc != 1)
		return -1;
	ctl_info(o, "Setting vhost limits to \"%s\" for vhost \"%s\" ...", o->argv[0], vhost);
	if ((def = json_loads(o->argv[0], JSON_DECODE_ANY, &jerr)) == NULL) {
		fprintf(stderr, "Error:\nJSON decoding error. Reason: %s\n", jerr.text);
		return EXIT_FAILURE;
	}
	if (check_definition(def) != 0)
		goto out;
	if (!api_exists(o, "vhosts", vhost)) {
		fprintf(stderr, "Error:\nVirtual host '%s' does not exist\n", vhost);
		goto out;
	}
	/* The limits given are set; the others cleared, as rabbitmqctl replaces them all. */
	for (i = 0; i < 2; i++) {
		v = json_object_get(def, names[i]);
		if (write_limit(
		        o, vhost, names[i], v != NULL ? json_integer_value(v) : -1, v == NULL) != 0)
			goto out;
	}
	r = EXIT_SUCCESS;
out:
	json_decref(def);
	return r;
}

static int clear_vhost_limits(struct ctl_opts *o)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/";
	json_t *lim;
	size_t i;
	int r = EXIT_FAILURE;

	if (o->argc != 0)
		return -1;
	ctl_info(o, "Clearing vhost \"%s\" limits ...", vhost);
	if (get_limits(o, vhost, &lim) != 0)
		return EXIT_FAILURE;
	if (json_object_size(lim) == 0) {
		fprintf(stderr, "Error:\nParameter does not exist\n");
		goto out;
	}
	for (i = 0; i < 2; i++)
		if (json_object_get(lim, names[i]) != NULL &&
		    write_limit(o, vhost, names[i], -1, true) != 0)
			goto out;
	r = EXIT_SUCCESS;
out:
	json_decref(lim);
	return r;
}

static int list_vhost_limits(struct ctl_opts *o)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/";
	json_t *rows, *row, *lim;
	size_t i;
	char *s;

	if (o->argc != 0 || (o->global && o->vhost != NULL))
		return -1;
	if (!o->global) {
		ctl_info(o, "Listing limits for vhost \"%s\" ...", vhost);
		if (get_limits(o, vhost, &lim) != 0)
			return EXIT_FAILURE;
		if (json_object_size(lim) > 0 || o->json) {
			json_dumpf(lim, stdout, JSON_COMPACT | JSON_SORT_KEYS);
			putchar('\n');
		}
		json_decref(lim);
		return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	ctl_info(o, "Listing limits for all vhosts ...");
	if (get_rows(o, NULL, &rows) != 0)
		return EXIT_FAILURE;
	if (o->json)
		fputs("[\n", stdout);
	else if (json_array_size(rows) > 0 && !o->no_headers)
		fputs("vhost\tlimits\n", stdout);
	json_array_foreach(rows, i, row)
	{
		s = json_dumps(json_object_get(row, "value"), JSON_COMPACT | JSON_SORT_KEYS);
		if (o->json) { /* as rabbitmqctl: the limits as a JSON string */
			json_t *out = json_pack("{s:O?, s:s}", "vhost",
			    json_object_get(row, "vhost"), "limits", s != NULL ? s : "{}");
			fputs(i == 0 ? "" : ",", stdout);
			json_dumpf(out, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
			putchar('\n');
			json_decref(out);
		} else {
			printf("%s\t%s\n", json_string_value(json_object_get(row, "vhost")),
			    s != NULL ? s : "{}");
		}
		free(s);
	}
	if (o->json)
		fputs("]\n", stdout);
	json_decref(rows);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int rmq_limits_cmd(struct ctl_opts *o, const char *cmd)
{
	if (o->global && strcmp(cmd, "list_vhost_limits") != 0)
		return -1;
	if (strcmp(cmd, "set_vhost_limits") == 0)
		return set_vhost_limits(o);
	if (strcmp(cmd, "clear_vhost_limits") == 0)
		return clear_vhost_limits(o);
	return list_vhost_limits(o);
}
