/*
 * mgmt_defs.c: definitions export and import (placeholder).
 */
#include "server/admin/mgmt.h"

void mgmt_definitions(struct mreq *r)
{
	mgmt_error(r, 405, "method_not_allowed", "not yet");
}
