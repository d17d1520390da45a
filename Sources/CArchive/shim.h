#ifndef BACKUPKIT_CARCHIVE_SHIM_H
#define BACKUPKIT_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>

// The AE_IF* file-type macros are not imported into Swift; re-export them as constants.
static const unsigned int bk_ae_ifreg = AE_IFREG;
static const unsigned int bk_ae_ifdir = AE_IFDIR;
static const unsigned int bk_ae_iflnk = AE_IFLNK;
static const unsigned int bk_ae_ifchr = AE_IFCHR;
static const unsigned int bk_ae_ifblk = AE_IFBLK;
static const unsigned int bk_ae_ififo = AE_IFIFO;
static const unsigned int bk_ae_ifsock = AE_IFSOCK;
#endif
