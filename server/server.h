/*
 * server.h: all of warrend's layers at once, for the tests and tools/ (warrenctl). No file of
 * server/ includes it: each includes its own layer's header (base/base.h, net/net.h,
 * persist/persist.h, model/model.h, proto/proto.h, admin/admin.h), which includes the layers below.
 */
#ifndef WARREN_SERVER_H
#define WARREN_SERVER_H

#include "server/admin/admin.h"

#endif /* WARREN_SERVER_H */
