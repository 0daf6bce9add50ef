/*
 * log.h - leveled logging to stderr, text or JSON lines.
 */
#ifndef BSN_BASE_LOG_H
#define BSN_BASE_LOG_H

enum bsn_log_level { BSN_LOG_DEBUG, BSN_LOG_INFO, BSN_LOG_WARN, BSN_LOG_ERROR };

void bsn_log_set_level(enum bsn_log_level lvl);
enum bsn_log_level bsn_log_get_level(void);
/* Parses "debug|info|warn|error"; returns -1 on anything else. */
int bsn_log_parse_level(const char *s, enum bsn_log_level *out);
void bsn_log_set_json(int on);
void bsn_log(enum bsn_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define bsn_debug(comp, ...) bsn_log(BSN_LOG_DEBUG, comp, __VA_ARGS__)
#define bsn_info(comp, ...)  bsn_log(BSN_LOG_INFO, comp, __VA_ARGS__)
#define bsn_warn(comp, ...)  bsn_log(BSN_LOG_WARN, comp, __VA_ARGS__)
#define bsn_error(comp, ...) bsn_log(BSN_LOG_ERROR, comp, __VA_ARGS__)

#endif
