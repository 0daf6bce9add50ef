/*
 * util.h - small helpers shared by the CLI commands.
 */
#ifndef BSN_CLI_UTIL_H
#define BSN_CLI_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Reads a whole file (NUL-terminated); NULL with errno set on failure. */
char *bsn_read_file(const char *path, size_t *len);
/* mkdir -p. */
int bsn_mkdir_p(const char *path, mode_t mode);
/* The data dir: explicit, else /var/lib/bosun as root, else ~/.local/share/bosun. */
int bsn_default_data_dir(const char *explicit_dir, char *out, size_t n);
/* "host:port", "[v6]:port", ":port". */
int bsn_split_hostport(const char *s, char *host, size_t hostn, int *port);

#endif
