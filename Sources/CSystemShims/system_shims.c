#define _GNU_SOURCE
#include <malloc.h>
#include <fcntl.h>
#include <unistd.h>
#include <spawn.h>
#include "system_shims.h"

int bk_spawn_close_inherited(void *actions) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, 3);
}

int bk_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int bk_start_writeback(int fd, long long offset, long long count) {
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE);
}

int bk_set_pipe_size(int fd, int size) {
    return fcntl(fd, F_SETPIPE_SZ, size);
}

int bk_release_free_memory(void) {
    return malloc_trim(0);
}
