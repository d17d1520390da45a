#ifndef BACKUPKIT_CDEFLATE_SHIM_H
#define BACKUPKIT_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
