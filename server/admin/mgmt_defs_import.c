/*
 * mgmt_defs_import.c: definitions into the broker (RabbitMQ 3.10's JSON document).
 */
#include <event2/buffer.h>
#include <stdio.h>

#include "server/admin/mgmt_defs.h"

int mgmt_definitions_import(const json_t *doc, struct evbuffer *report, char *err, size_t errlen)
{
	snprintf(err, errlen, "importing definitions is not supported yet");
	return -1;
}
