/* Temporary file, fsync, rename: the destination is never half written. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "internal.h"

/* Distinguishes temporary files of threads writing the same path. */
static atomic_uint tmp_counter;

ganet_status ganet__atomic_file_open(ganet__atomic_file *f, const char *fn,
                                     const char *path)
{
    f->path = path;
    f->tmp_path = NULL;
    f->fd = -1;
    size_t size = strlen(path) + 48;
    char *tmp = malloc(size);
    GANET__CHECK(tmp != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);

    /* O_EXCL makes the name ours; the mode 0666 lets the umask decide the
     * final permissions, as for any file the program creates. */
    int err = 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned n = atomic_fetch_add(&tmp_counter, 1u);
        snprintf(tmp, size, "%s.tmp.%ld.%u", path, (long)getpid(), n);
        f->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0)
            break;
        err = errno;
        if (err != EEXIST)
            break;
    }
    if (f->fd < 0) {
        free(tmp);
        return ganet__fail(GANET_ERR_IO,
                           "%s: cannot create a file next to %s: %s", fn, path,
                           strerror(err));
    }
    f->tmp_path = tmp;
    return GANET_OK;
}

/* Make the rename itself durable; a failure here loses nothing written. */
static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (slash == NULL)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (dir == NULL)
        return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

ganet_status ganet__atomic_file_commit(ganet__atomic_file *f, const char *fn)
{
    if (f->tmp_path == NULL)
        return ganet__fail(GANET_ERR_STATE, "%s: %s is already finished", fn,
                           f->path);
    const char *what = NULL;
    int err = 0;
    if (fsync(f->fd) != 0) {
        what = "cannot sync";
        err = errno;
    }
    if (close(f->fd) != 0 && what == NULL) {
        what = "cannot close";
        err = errno;
    }
    f->fd = -1;
    if (what == NULL && rename(f->tmp_path, f->path) != 0) {
        what = "cannot rename the temporary file to";
        err = errno;
    }
    if (what != NULL) {
        ganet__atomic_file_abort(f);
        return ganet__fail(GANET_ERR_IO, "%s: %s %s: %s", fn, what, f->path,
                           strerror(err));
    }
    free(f->tmp_path);
    f->tmp_path = NULL;
    sync_folder(f->path);
    return GANET_OK;
}

void ganet__atomic_file_abort(ganet__atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path != NULL) {
        unlink(f->tmp_path);
        free(f->tmp_path);
    }
    f->tmp_path = NULL;
}
