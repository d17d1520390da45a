#ifndef BACKUPKIT_CISAL_SHIM_H
#define BACKUPKIT_CISAL_SHIM_H
#include <isa-l/igzip_lib.h>
#endif
