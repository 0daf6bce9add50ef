/*
 * time.h - clocks and Kubernetes time formats.
 *
 * bsn_time_now() is the wall clock used for timestamps; tests may replace it with a fixed or
 * advancing clock through bsn_time_set_fake() (controllers such as CronJob read time only
 * through here).
 */
#ifndef BSN_BASE_TIME_H
#define BSN_BASE_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Monotonic clock in milliseconds / nanoseconds. */
uint64_t bsn_mono_ms(void);
uint64_t bsn_mono_ns(void);
/* Wall clock, seconds since the epoch (fakeable). */
time_t bsn_time_now(void);
/* Wall clock with sub-second precision, microseconds since the epoch (fakeable). */
int64_t bsn_time_now_us(void);
/* Sets a fake wall-clock offset in seconds added to the real clock (0 = none). */
void bsn_time_set_offset(int64_t seconds);
/* RFC 3339 "2006-01-02T15:04:05Z" into out (at least 21 bytes). */
void bsn_time_format(time_t t, char *out, size_t n);
/* RFC 3339 with microseconds "2006-01-02T15:04:05.000000Z" (MicroTime). */
void bsn_time_format_micro(int64_t us, char *out, size_t n);
/* Parses RFC 3339 (Z or +hh:mm, optional fraction); returns -1 on error. */
int bsn_time_parse(const char *s, time_t *out);

#endif
