/*
 * event.c - core/v1 Event and events.k8s.io/v1 Event: validation, printer columns (shared),
 * field selectors, and the conversion between the two representations that share storage
 * (regarding <-> involvedObject, note <-> message, reportingController <-> reportingComponent,
 * deprecatedSource/FirstTimestamp/LastTimestamp/Count <-> source/firstTimestamp/...).
 */
#include "api/kinds/kinds.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"

#define F(buf, ...) snprintf(buf, sizeof(buf), __VA_ARGS__)

#define NOTE_MAX 1024

/* core name <-> events.k8s.io name */
static const struct {
    const char *core, *events;
} renames[] = {
    {"involvedObject", "regarding"},
    {"message", "note"},
    {"reportingComponent", "reportingController"},
    {"source", "deprecatedSource"},
    {"firstTimestamp", "deprecatedFirstTimestamp"},
    {"lastTimestamp", "deprecatedLastTimestamp"},
    {"count", "deprecatedCount"},
};

static void
rename_key(json_t *obj, const char *from, const char *to)
{
    json_t *v = json_object_get(obj, from);
    if (!v)
        return;
    json_incref(v);
    json_object_del(obj, from);
    json_object_set_new(obj, to, v);
}

static void
event_convert(json_t *obj, const struct bsn_resource *from, const struct bsn_resource *to)
{
    if (!from || !to || strcmp(from->group, to->group) == 0)
        return;
    bool to_events = strcmp(to->group, "events.k8s.io") == 0;
    for (size_t i = 0; i < BSN_ARRAY_LEN(renames); i++) {
        if (to_events)
            rename_key(obj, renames[i].core, renames[i].events);
        else
            rename_key(obj, renames[i].events, renames[i].core);
    }
    if (to_events) {
        /* Upstream drops zero values on the way out: no empty deprecatedSource etc. */
        json_t *src = json_object_get(obj, "deprecatedSource");
        if (json_is_object(src) && json_object_size(src) == 0)
            json_object_del(obj, "deprecatedSource");
        if (json_is_null(json_object_get(obj, "deprecatedFirstTimestamp")))
            json_object_del(obj, "deprecatedFirstTimestamp");
        if (json_is_null(json_object_get(obj, "deprecatedLastTimestamp")))
            json_object_del(obj, "deprecatedLastTimestamp");
        if (kj_int(obj, "deprecatedCount", 1) == 0)
            json_object_del(obj, "deprecatedCount");
        static const char *const opt[] = {
            "reportingController", "reportingInstance", "action", "reason", "note", "type"};
        for (size_t i = 0; i < BSN_ARRAY_LEN(opt); i++)
            if (json_is_string(json_object_get(obj, opt[i])) && !*kj_str(obj, opt[i]))
                json_object_del(obj, opt[i]);
        if (!json_object_get(obj, "eventTime"))
            json_object_set_new(obj, "eventTime", json_null());
    } else {
        /* core/v1 always carries involvedObject and source. */
        if (!json_object_get(obj, "involvedObject"))
            json_object_set_new(obj, "involvedObject", json_object());
        if (!json_object_get(obj, "source"))
            json_object_set_new(obj, "source", json_object());
    }
    char api[128];
    if (*to->group)
        F(api, "%s/%s", to->group, to->version);
    else
        F(api, "%s", to->version);
    json_object_set_new(obj, "apiVersion", json_string(api));
    json_object_set_new(obj, "kind", json_string("Event"));
}

static const char *const event_types[] = {"Normal", "Warning", NULL};

/* Checks shared by both versions; names are those of the representation. */
static int
validate_common(const json_t *obj, struct bsn_err *err, const char *ref_key, bool new_api)
{
    int rc = 0;
    char f[128];
    const char *ns = kj_str_or(obj, "metadata.namespace", "");
    const json_t *ref = json_object_get(obj, ref_key);
    const char *rns = kj_str(ref, "namespace");
    if (rns && *rns && *ns && strcmp(rns, ns) != 0) {
        F(f, "%s.namespace", ref_key);
        rc |= kv_invalid_s(err, f, rns, "does not match event.namespace");
    }
    const char *type = kj_str(obj, "type");
    if ((type && *type) || new_api)
        rc |= kv_enum(err, obj, "type", "type", event_types, new_api);
    const json_t *et = json_object_get(obj, "eventTime");
    bool has_time = et && !json_is_null(et);
    if (new_api || has_time) {
        const char *ctl = new_api ? "reportingController" : "reportingComponent";
        if (!*kj_str_or(obj, ctl, ""))
            rc |= kv_required(err, ctl, NULL);
        else if (kn_qualified_name(kj_str(obj, ctl)))
            rc |= kv_invalid_s(err, ctl, kj_str(obj, ctl), kn_qualified_name(kj_str(obj, ctl)));
        if (!*kj_str_or(obj, "reportingInstance", ""))
            rc |= kv_required(err, "reportingInstance", NULL);
        if (!*kj_str_or(obj, "action", ""))
            rc |= kv_required(err, "action", NULL);
        if (!*kj_str_or(obj, "reason", ""))
            rc |= kv_required(err, "reason", NULL);
        const char *note = kj_str(obj, new_api ? "note" : "message");
        if (note && strlen(note) > NOTE_MAX)
            rc |= kv_toolong(err, new_api ? "note" : "message", NOTE_MAX);
    }
    if (new_api && !has_time)
        rc |= kv_required(err, "eventTime", NULL);
    return rc ? -1 : 0;
}

static int
core_event_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    (void)old;
    return validate_common(obj, err, "involvedObject", false);
}

static int
events_event_validate(const json_t *obj, const json_t *old, struct bsn_err *err)
{
    int rc = validate_common(obj, err, "regarding", true);
    if (old) {
        static const char *const fixed[] = {
            "action", "reason", "regarding", "related", "reportingController", "reportingInstance",
            "type",   "note",   "eventTime"};
        for (size_t i = 0; i < BSN_ARRAY_LEN(fixed); i++)
            rc |= kv_immutable(err, obj, old, fixed[i]);
    }
    return rc ? -1 : 0;
}

static const struct bsn_column event_columns[] = {
    {"Last Seen", "string", "",
     "The time at which the most recent occurrence of this event was recorded.", 0},
    {"Type", "string", "",
     "Type of this event (Normal, Warning), new types could be added in the "
     "future",
     0},
    {"Reason", "string", "",
     "This should be a short, machine understandable string that gives the reason for the "
     "transition into the object's current status.",
     0},
    {"Object", "string", "", "The object that this event is about.", 0},
    {"Subobject", "string", "",
     "If referring to a piece of an object instead of an entire object, this string should "
     "contain a valid JSON/Go field access statement, such as "
     "desiredState.manifest.containers[2].",
     1},
    {"Source", "string", "",
     "The component reporting this event. Should be a short machine understandable string.", 1},
    {"Message", "string", "", "A human-readable description of the status of this operation.", 0},
    {"First Seen", "string", "",
     "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1},
    {"Count", "string", "", "The number of times this event has occurred.", 1},
    {"Name", "string", "name",
     "Name must be unique within a namespace. Is required when creating resources, although "
     "some resources may allow a client to request the generation of an appropriate name "
     "automatically.",
     1},
    KC_END,
};

/* Field names of one representation. */
struct event_names {
    const char *ref, *message, *controller, *source, *first, *last, *count;
};

static const struct event_names core_names = {
    "involvedObject", "message", "reportingComponent", "source", "firstTimestamp",
    "lastTimestamp",  "count"};
static const struct event_names new_names = {"regarding",
                                             "note",
                                             "reportingController",
                                             "deprecatedSource",
                                             "deprecatedFirstTimestamp",
                                             "deprecatedLastTimestamp",
                                             "deprecatedCount"};

static void
event_row_names(const json_t *obj, json_t *cells, const struct event_names *n)
{
    char first[32], last[32], target[400], source[300] = "", msg[1100];
    const char *ft = kj_str(obj, n->first);
    if (ft && *ft)
        kc_since(ft, first, sizeof(first));
    else
        kc_since(kj_str(obj, "eventTime"), first, sizeof(first));
    const char *lt = kj_str(obj, n->last);
    if (lt && *lt)
        kc_since(lt, last, sizeof(last));
    else
        F(last, "%s", first);
    json_int_t count = kj_int(obj, n->count, 0);
    const json_t *series = json_object_get(obj, "series");
    if (json_is_object(series)) {
        kc_since(kj_str(series, "lastObservedTime"), last, sizeof(last));
        count = kj_int(series, "count", 0);
    } else if (count == 0) {
        count = 1;
    }
    const json_t *ref = json_object_get(obj, n->ref);
    char kind[128];
    F(kind, "%s", kj_str_or(ref, "kind", ""));
    for (char *p = kind; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *name = kj_str_or(ref, "name", "");
    if (*name)
        F(target, "%s/%s", kind, name);
    else
        F(target, "%s", kind);
    const char *comp = kj_str_or(obj, n->source, "");
    comp = kj_str_or(json_object_get(obj, n->source), "component", "");
    const char *host = kj_str_or(json_object_get(obj, n->source), "host", "");
    if (!*comp)
        comp = kj_str_or(obj, n->controller, "");
    if (!*host)
        host = kj_str_or(obj, "reportingInstance", "");
    if (*comp || *host) {
        if (*host)
            F(source, "%s, %s", comp, host);
        else
            F(source, "%s", comp);
    }
    /* strings.TrimSpace on the message */
    const char *m = kj_str_or(obj, n->message, "");
    while (isspace((unsigned char)*m))
        m++;
    F(msg, "%s", m);
    for (size_t l = strlen(msg); l > 0 && isspace((unsigned char)msg[l - 1]); l--)
        msg[l - 1] = '\0';
    char countbuf[32];
    F(countbuf, "%lld", (long long)count);
    kc_str(cells, last);
    kc_str(cells, kj_str_or(obj, "type", ""));
    kc_str(cells, kj_str_or(obj, "reason", ""));
    kc_str(cells, target);
    kc_str(cells, kj_str_or(ref, "fieldPath", ""));
    kc_str(cells, source);
    kc_str(cells, msg);
    kc_str(cells, first);
    /* upstream's cell is an int64 in a column declared "string" */
    kc_int(cells, count);
    kc_name(cells, obj);
    (void)countbuf;
}

static void
core_event_row(const json_t *obj, json_t *cells)
{
    event_row_names(obj, cells, &core_names);
}

static void
events_event_row(const json_t *obj, json_t *cells)
{
    event_row_names(obj, cells, &new_names);
}

static const char *
event_field(const json_t *obj, const char *field, char *buf, size_t bufsz,
            const struct event_names *n)
{
    static const char *const ref_fields[] = {"kind",       "namespace",       "name",     "uid",
                                             "apiVersion", "resourceVersion", "fieldPath"};
    const char *dot = strchr(field, '.');
    if (dot &&
        (strncmp(field, "involvedObject.", 15) == 0 || strncmp(field, "regarding.", 10) == 0)) {
        for (size_t i = 0; i < BSN_ARRAY_LEN(ref_fields); i++)
            if (strcmp(dot + 1, ref_fields[i]) == 0) {
                snprintf(buf, bufsz, "%s",
                         kj_str_or(json_object_get(obj, n->ref), ref_fields[i], ""));
                return buf;
            }
        return NULL;
    }
    if (strcmp(field, "reason") == 0 || strcmp(field, "type") == 0) {
        snprintf(buf, bufsz, "%s", kj_str_or(obj, field, ""));
        return buf;
    }
    if (strcmp(field, "reportingComponent") == 0 || strcmp(field, "reportingController") == 0) {
        snprintf(buf, bufsz, "%s", kj_str_or(obj, n->controller, ""));
        return buf;
    }
    if (strcmp(field, "source") == 0 || strcmp(field, "deprecatedSource") == 0) {
        snprintf(buf, bufsz, "%s", kj_str_or(json_object_get(obj, n->source), "component", ""));
        return buf;
    }
    return NULL;
}

static const char *
core_event_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    return event_field(obj, field, buf, bufsz, &core_names);
}

static const char *
events_event_field_value(const json_t *obj, const char *field, char *buf, size_t bufsz)
{
    return event_field(obj, field, buf, bufsz, &new_names);
}

/* core/v1 Event fields without omitempty: always present in what upstream serves. */
static void
core_event_defaults(json_t *obj)
{
    if (!json_object_get(obj, "involvedObject"))
        json_object_set_new(obj, "involvedObject", json_object());
    if (!json_object_get(obj, "source"))
        json_object_set_new(obj, "source", json_object());
    static const char *const times[] = {"firstTimestamp", "lastTimestamp", "eventTime"};
    for (size_t i = 0; i < BSN_ARRAY_LEN(times); i++)
        if (!json_object_get(obj, times[i]))
            json_object_set_new(obj, times[i], json_null());
    kj_def_str(obj, "reportingComponent", "");
    kj_def_str(obj, "reportingInstance", "");
}

const struct bsn_strategy bsn_strategy_event = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .defaults = core_event_defaults,
    .validate = core_event_validate,
    .columns = event_columns,
    .row = core_event_row,
    .field_value = core_event_field_value,
    .convert = event_convert,
};

const struct bsn_strategy bsn_strategy_events_event = {
    .name_rule = BSN_NAME_SUBDOMAIN,
    .validate = events_event_validate,
    .columns = event_columns,
    .row = events_event_row,
    .field_value = events_event_field_value,
    .convert = event_convert,
};
