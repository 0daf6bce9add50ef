/*
 * cron_parse.c - fuzz target: CronJob schedules (bsn_cron_parse) and the next-time search.
 * Any input must parse or fail cleanly; a parsed schedule's next time is after its start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/logic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char spec[257];
    memcpy(spec, data, size);
    spec[size] = '\0';
    struct bsn_cron c;
    char msg[256];
    if (bsn_cron_parse(spec, &c, msg, sizeof(msg)) == 0) {
        time_t from = 1767225600; /* 2026-01-01T00:00:00Z */
        time_t next = bsn_cron_next(&c, from, NULL);
        if (next != -1 && next <= from)
            abort();
    } else if (!msg[0]) {
        abort(); /* a failure always says why */
    }
    return 0;
}
