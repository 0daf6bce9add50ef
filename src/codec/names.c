/*
 * names.c - name and label validation (apimachinery's validation.Is* functions).
 */
#include "codec/names.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DNS1123_LABEL_FMT     "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUBDOMAIN_FMT DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*"
#define DNS1035_LABEL_FMT     "[a-z]([-a-z0-9]*[a-z0-9])?"
#define QNAME_FMT             "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define LABEL_VALUE_FMT       "(" QNAME_FMT ")?"

#define MSG_DNS1123_LABEL                                                                    \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', " \
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', " \
    "regex used for validation is '" DNS1123_LABEL_FMT "')"
#define MSG_DNS1123_SUBDOMAIN                                                                 \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " \
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "     \
    "regex used for validation is '" DNS1123_SUBDOMAIN_FMT "')"
#define MSG_DNS1035_LABEL                                                                     \
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with " \
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "   \
    "'abc-123', regex used for validation is '" DNS1035_LABEL_FMT "')"
#define MSG_QNAME_CHARS                                                                       \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "  \
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for " \
    "validation is '" QNAME_FMT "')"
#define MSG_LABEL_VALUE                                                                      \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' " \
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "    \
    "'my_value',  or '12345', regex used for validation is '" LABEL_VALUE_FMT "')"

static void add(struct bsn_name_msgs *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
add(struct bsn_name_msgs *out, const char *fmt, ...)
{
    if (!out || out->n >= 3)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->msg[out->n++], sizeof(out->msg[0]), fmt, ap);
    va_end(ap);
}

static int
count(const struct bsn_name_msgs *out, int local)
{
    (void)out;
    return local;
}

static bool
lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
alnum(char c)
{
    return isascii((unsigned char)c) && isalnum((unsigned char)c);
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool
is_label(const char *s, size_t n, bool first_alpha)
{
    if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
        return false;
    if (first_alpha && !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool
is_subdomain(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!is_label(s + start, i - start, false))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool
is_qname_part(const char *s, size_t n)
{
    if (n == 0 || !alnum(s[0]) || !alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

int
bsn_validate_dns1123_subdomain(const char *v, struct bsn_name_msgs *out)
{
    int local = 0;
    size_t n = strlen(v);
    if (n > BSN_DNS1123_SUBDOMAIN_MAX) {
        add(out, "must be no more than %d characters", BSN_DNS1123_SUBDOMAIN_MAX);
        local++;
    }
    if (!is_subdomain(v, n)) {
        add(out, "%s", MSG_DNS1123_SUBDOMAIN);
        local++;
    }
    return count(out, local);
}

int
bsn_validate_dns1123_label(const char *v, struct bsn_name_msgs *out)
{
    int local = 0;
    size_t n = strlen(v);
    if (n > BSN_DNS1123_LABEL_MAX) {
        add(out, "must be no more than %d characters", BSN_DNS1123_LABEL_MAX);
        local++;
    }
    if (!is_label(v, n, false)) {
        add(out, "%s", MSG_DNS1123_LABEL);
        local++;
    }
    return count(out, local);
}

int
bsn_validate_dns1035_label(const char *v, struct bsn_name_msgs *out)
{
    int local = 0;
    size_t n = strlen(v);
    if (n > BSN_DNS1123_LABEL_MAX) {
        add(out, "must be no more than %d characters", BSN_DNS1123_LABEL_MAX);
        local++;
    }
    if (!is_label(v, n, true)) {
        add(out, "%s", MSG_DNS1035_LABEL);
        local++;
    }
    return count(out, local);
}

int
bsn_validate_qualified_name(const char *v, struct bsn_name_msgs *out)
{
    int local = 0;
    const char *slash = strchr(v, '/');
    const char *name = v;
    if (slash && strchr(slash + 1, '/')) {
        add(out,
            "a qualified name %s with an optional DNS subdomain prefix and '/' (e.g. "
            "'example.com/MyName')",
            MSG_QNAME_CHARS);
        return count(out, 1);
    }
    if (slash) {
        size_t pl = (size_t)(slash - v);
        name = slash + 1;
        if (pl == 0) {
            add(out, "prefix part must be non-empty");
            local++;
        } else {
            if (pl > BSN_DNS1123_SUBDOMAIN_MAX) {
                add(out, "prefix part must be no more than %d characters",
                    BSN_DNS1123_SUBDOMAIN_MAX);
                local++;
            }
            if (!is_subdomain(v, pl)) {
                add(out, "prefix part %s", MSG_DNS1123_SUBDOMAIN);
                local++;
            }
        }
    }
    size_t nl = strlen(name);
    if (nl == 0) {
        add(out, "name part must be non-empty");
        local++;
    } else if (nl > BSN_QUALIFIED_NAME_MAX) {
        add(out, "name part must be no more than %d characters", BSN_QUALIFIED_NAME_MAX);
        local++;
    }
    if (nl && !is_qname_part(name, nl)) {
        add(out, "name part %s", MSG_QNAME_CHARS);
        local++;
    }
    return count(out, local);
}

int
bsn_validate_label_value(const char *v, struct bsn_name_msgs *out)
{
    int local = 0;
    size_t n = strlen(v);
    if (n > BSN_LABEL_VALUE_MAX) {
        add(out, "must be no more than %d characters", BSN_LABEL_VALUE_MAX);
        local++;
    }
    if (n && !is_qname_part(v, n)) {
        add(out, "%s", MSG_LABEL_VALUE);
        local++;
    }
    return count(out, local);
}

int
bsn_validate_annotations(const json_t *annotations, struct bsn_name_msgs *out)
{
    int local = 0;
    size_t total = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)annotations, k, v)
    {
        char lower[512];
        size_t kl = strlen(k);
        snprintf(lower, sizeof(lower), "%s", k);
        for (char *c = lower; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (kl >= sizeof(lower) || bsn_validate_qualified_name(lower, NULL)) {
            struct bsn_name_msgs tmp = {0};
            bsn_validate_qualified_name(kl >= sizeof(lower) ? k : lower, &tmp);
            for (int i = 0; i < tmp.n; i++)
                add(out, "%s: %s", k, tmp.msg[i]);
            local++;
        }
        total += kl + (json_is_string(v) ? json_string_length(v) : 0);
    }
    if (total > BSN_ANNOTATIONS_TOTAL_MAX) {
        add(out, "Too long: must have at most %d bytes", BSN_ANNOTATIONS_TOTAL_MAX);
        local++;
    }
    return count(out, local);
}

int
bsn_validate_port_name(const char *v, struct bsn_name_msgs *out)
{
    int local = 0;
    size_t n = strlen(v);
    bool letter = false, ok_chars = n > 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] >= 'a' && v[i] <= 'z')
            letter = true;
        else if (!(v[i] >= '0' && v[i] <= '9') && v[i] != '-')
            ok_chars = false;
    }
    if (n > 15) {
        add(out, "must be no more than 15 characters");
        local++;
    }
    if (!ok_chars) {
        add(out, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
        local++;
    }
    if (!letter) {
        add(out, "must contain at least one letter (a-z)");
        local++;
    }
    if (strstr(v, "--")) {
        add(out, "must not contain consecutive hyphens");
        local++;
    }
    if (n && (v[0] == '-' || v[n - 1] == '-')) {
        add(out, "must not begin or end with a hyphen");
        local++;
    }
    return count(out, local);
}

int
bsn_validate_port_num(long long port, struct bsn_name_msgs *out)
{
    if (port >= 1 && port <= 65535)
        return 0;
    add(out, "must be between 1 and 65535, inclusive");
    return count(out, 1);
}

int
bsn_validate_env_var_name(const char *v, struct bsn_name_msgs *out)
{
    size_t n = strlen(v);
    bool ok = n > 0 && !(v[0] >= '0' && v[0] <= '9');
    for (size_t i = 0; ok && i < n; i++)
        ok = alnum(v[i]) || v[i] == '-' || v[i] == '.' || v[i] == '_';
    if (ok)
        return 0;
    add(out, "a valid environment variable name must consist of alphabetic characters, digits, "
             "'_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
             "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
             "'[-._a-zA-Z][-._a-zA-Z0-9]*')");
    return count(out, 1);
}

int
bsn_validate_config_map_key(const char *v, struct bsn_name_msgs *out)
{
    int local = 0;
    size_t n = strlen(v);
    bool ok = n > 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = alnum(v[i]) || v[i] == '-' || v[i] == '.' || v[i] == '_';
    if (n > BSN_DNS1123_SUBDOMAIN_MAX) {
        add(out, "must be no more than %d characters", BSN_DNS1123_SUBDOMAIN_MAX);
        local++;
    }
    if (!ok) {
        add(out, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                 "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                 "is '[-._a-zA-Z0-9]+')");
        local++;
    }
    if (strcmp(v, ".") == 0) {
        add(out, "must not be '.'");
        local++;
    } else if (strcmp(v, "..") == 0) {
        add(out, "must not be '..'");
        local++;
    } else if (strncmp(v, "..", 2) == 0) {
        add(out, "must not start with '..'");
        local++;
    }
    return count(out, local);
}

bool
bsn_is_dns1123_subdomain(const char *v)
{
    return bsn_validate_dns1123_subdomain(v, NULL) == 0;
}

bool
bsn_is_dns1123_label(const char *v)
{
    return bsn_validate_dns1123_label(v, NULL) == 0;
}

bool
bsn_is_qualified_name(const char *v)
{
    return bsn_validate_qualified_name(v, NULL) == 0;
}

bool
bsn_is_label_value(const char *v)
{
    return bsn_validate_label_value(v, NULL) == 0;
}
