#ifndef BACKUPKIT_CZSTD_SHIM_H
#define BACKUPKIT_CZSTD_SHIM_H
#include <zstd.h>
#endif
