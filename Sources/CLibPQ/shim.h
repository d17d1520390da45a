#ifndef BACKUPKIT_CLIBPQ_SHIM_H
#define BACKUPKIT_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
