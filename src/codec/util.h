/*
 * util.h - Go-style durations ("1h30m", "500ms") and IntOrString helpers ("25%").
 */
#ifndef BSN_CODEC_UTIL_H
#define BSN_CODEC_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/*
 * Parses a Go time.ParseDuration string into nanoseconds: [-+]?(<decimal><unit>)+ with units
 * ns, us (or µs/μs), ms, s, m, h; "0" alone is allowed. Errors (400 BadRequest) use Go's text:
 * `time: invalid duration "x"`, `time: missing unit in duration "1"`,
 * `time: unknown unit "d" in duration "1d"`.
 */
int bsn_duration_parse(const char *s, int64_t *ns, struct bsn_err *err);
/* Formats like Go's Duration.String(): "1h30m0s", "500ms", "1.5s", "0s". */
void bsn_duration_format(int64_t ns, char *out, size_t n);

/*
 * IntOrString scaling (upstream intstr.GetScaledValueFromIntOrPercent): an integer is returned
 * as is; a string "N%" yields N * total / 100, rounded up or down. Any other string is an
 * error (400 BadRequest `invalid value for IntOrString: invalid value "x"`).
 */
int bsn_intstr_scaled(const json_t *v, int64_t total, bool round_up, int64_t *out,
                      struct bsn_err *err);
/* True when v is an integer or a string of the form "N%" (for validation). */
bool bsn_intstr_valid(const json_t *v);

#endif
