#ifndef BACKUPKIT_SYSTEM_SHIMS_H
#define BACKUPKIT_SYSTEM_SHIMS_H

/// pipe2(fds, O_CLOEXEC): a pipe whose ends are never inherited by a child another thread spawns.
int bk_pipe_cloexec(int fds[2]);

#endif
