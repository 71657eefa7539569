/*
 * Files written whole or not at all: the data goes to a temporary file in
 * the destination's folder, which is synced and renamed over the
 * destination only once everything is written. A crash or a failed write
 * leaves the destination as it was.
 */
#ifndef GANET_ATOMIC_FILE_H
#define GANET_ATOMIC_FILE_H

#include "ganet/status.h"

typedef struct ganet__atomic_file {
    /* The destination, borrowed from the caller. */
    const char *path;
    /* The temporary file's name, owned; NULL once committed or aborted. */
    char *tmp_path;
    /* Open for writing; the writer may dup() it for stdio or zlib. */
    int fd;
} ganet__atomic_file;

/* Create the temporary file next to path. fn names the caller in messages.
 * GANET_ERR_IO when the folder is not writable. */
ganet_status ganet__atomic_file_open(ganet__atomic_file *f, const char *fn,
                                     const char *path);

/* Sync the data, close and rename over the destination. On failure the
 * temporary file is removed. Either way f is finished afterwards. */
ganet_status ganet__atomic_file_commit(ganet__atomic_file *f, const char *fn);

/* Close and remove the temporary file; safe after a commit. */
void ganet__atomic_file_abort(ganet__atomic_file *f);

#endif
