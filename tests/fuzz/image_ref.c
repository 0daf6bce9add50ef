/*
 * image_ref.c - fuzz target: image references (user and manifest input) and registry
 * WWW-Authenticate challenges (network input). Input: "<ref>\n<challenge>".
 * Properties: a parsed reference formats to a name that parses again to the same name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/image.h"
#include "runtime/image_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = memchr(buf, '\n', size);
    const char *challenge = "";
    if (nl) {
        *nl = '\0';
        challenge = nl + 1;
    }
    struct bsn_image_ref r, r2;
    struct bsn_err err = {0};
    if (bsn_image_ref_parse(buf, &r, &err) == 0) {
        char name[512], name2[512];
        bsn_image_ref_name(&r, name, sizeof(name));
        if (bsn_image_ref_parse(name, &r2, &err) != 0)
            abort();
        bsn_image_ref_name(&r2, name2, sizeof(name2));
        if (strcmp(name, name2) != 0)
            abort();
    }
    char out[64];
    const char *keys[] = {"realm", "service", "scope", "error"};
    for (size_t i = 0; i < 4; i++)
        if (rt_img_challenge_param(challenge, keys[i], out, sizeof(out)) && strlen(out) >= 64)
            abort();
    free(buf);
    return 0;
}
