/* libwsp umbrella header: every module. */
#ifndef WSP_H
#define WSP_H

#include "wsp/common.h"
#include "wsp/conn.h"

#endif /* WSP_H */
