#ifndef BACKUPKIT_SYSTEM_SHIMS_H
#define BACKUPKIT_SYSTEM_SHIMS_H

/// pipe2(fds, O_CLOEXEC): a pipe whose ends are never inherited by a child another thread spawns.
int bk_pipe_cloexec(int fds[2]);

/// sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE): starts writeback of that range without
/// waiting for it. Returns 0, or -1 with errno set.
int bk_start_writeback(int fd, long long offset, long long count);
// Gives the heap's free pages back to the system (glibc's malloc_trim). Returns 1 when some were.
int bk_release_free_memory(void);

/// fcntl(fd, F_SETPIPE_SZ, size): the pipe holds up to `size` bytes. Returns the new size, or -1.
int bk_set_pipe_size(int fd, int size);

/// posix_spawn_file_actions_addclosefrom_np(actions, 3): the child starts with only stdin, stdout and
/// stderr open, so a server it starts (a restored PostgreSQL, the WAL pusher) never holds a descriptor
/// the parent's parent waits on. `actions` is a posix_spawn_file_actions_t *.
int bk_spawn_close_inherited(void *actions);

#endif
