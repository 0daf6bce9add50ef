/*
 * logpump.h - captures a container's stdout/stderr into a CRI-format log file.
 *
 * Each line becomes `<RFC3339Nano timestamp> <stream> <F|P> <text>\n` (the format kubelet
 * and `kubectl logs` read): F marks a complete line, P a partial one (a line longer than
 * BSN_LOGPUMP_LINE_MAX is split into P chunks ending with an F chunk). The pipes are read on
 * the loop; writes go to the file with O_APPEND. When the file grows past max_bytes it is
 * rotated: path -> path.1 -> ... -> path.<max_files-1> (the oldest is deleted).
 */
#ifndef BSN_RUNTIME_LOGPUMP_H
#define BSN_RUNTIME_LOGPUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define BSN_LOGPUMP_LINE_MAX 16384

struct bsn_loop;
struct bsn_logpump;

struct bsn_logpump *bsn_logpump_new(struct bsn_loop *loop, const char *path, size_t max_bytes,
                                    int max_files, struct bsn_err *err);
/* Reads fd (made non-blocking; the pump owns and closes it) as stream "stdout"/"stderr". */
int bsn_logpump_add(struct bsn_logpump *p, int fd, const char *stream);
/* Reads whatever is still buffered in the pipes, flushes partial lines, closes everything. */
void bsn_logpump_free(struct bsn_logpump *p);
/* Number of pipes still open (0 once every writer has closed its end). */
int bsn_logpump_open_streams(const struct bsn_logpump *p);

/* Appends one CRI log line to out. ts_ns is wall-clock nanoseconds since the epoch. */
void bsn_cri_log_format(struct bsn_buf *out, int64_t ts_ns, const char *stream, bool partial,
                        const char *text, size_t len);
/* One parsed CRI log line (views into the input). */
struct bsn_cri_line {
    int64_t ts_ns;         /* wall clock, nanoseconds since the epoch */
    struct bsn_str stream; /* "stdout" / "stderr" */
    bool partial;          /* P tag */
    struct bsn_str text;   /* without the trailing newline */
};
/* Parses one line (with or without its '\n'); -1 if it is not in the CRI format. Readers
 * (kubectl logs, --timestamps, --since) join P chunks with the following F chunk. */
int bsn_cri_log_parse(const char *line, size_t len, struct bsn_cri_line *out);

/* Rotates path now (used by the pump and tests). */
int bsn_log_rotate(const char *path, int max_files);

#endif
