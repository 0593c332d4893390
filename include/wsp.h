/* libwsp umbrella header: every module. */
#ifndef WSP_H
#define WSP_H

#include "wsp/common.h"
#include "wsp/conn.h"
#include "wsp/corr.h"
#include "wsp/evlog.h"
#include "wsp/json.h"
#include "wsp/jwt.h"
#include "wsp/proto.h"
#include "wsp/pubsub.h"
#include "wsp/push.h"
#include "wsp/redis.h"
#include "wsp/request.h"
#include "wsp/rpc.h"
#include "wsp/rpc_client.h"
#include "wsp/server.h"
#include "wsp/session.h"

#endif /* WSP_H */
