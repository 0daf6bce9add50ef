/*
 * openapi.c - the OpenAPI 3.0 document generated from an app's routes, and the self-contained
 * /docs page that renders it.
 */
#include <stdio.h>
#include <string.h>

#include "kit/kit_int.h"

static json_t *
schema_json(const struct bsn_kit_schema *s)
{
    json_t *props = json_object(), *req = json_array();
    for (size_t i = 0; i < s->nfields; i++) {
        const struct bsn_kit_field *f = &s->fields[i];
        json_t *p = json_pack("{s:s}", "type", bsn_kit_type_name(f->type));
        if (f->description)
            json_object_set_new(p, "description", json_string(f->description));
        json_object_set_new(props, f->name, p);
        if (f->required)
            json_array_append_new(req, json_string(f->name));
    }
    json_t *o = json_pack("{s:s,s:o}", "type", "object", "properties", props);
    if (json_array_size(req))
        json_object_set_new(o, "required", req);
    else
        json_decref(req);
    return o;
}

static void
lower(char *out, size_t n, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[i] = 0;
}

static json_t *
error_schema(void)
{
    return json_pack("{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s}},s:[s,s]}", "type", "object",
                     "properties", "error", "type", "string", "message", "type", "string", "status",
                     "type", "integer", "requestId", "type", "string", "details", "type", "array",
                     "required", "error", "message");
}

json_t *
bsn_kit_openapi(const struct bsn_kit_app *app)
{
    json_t *paths = json_object(), *schemas = json_object();
    json_object_set_new(schemas, "Error", error_schema());
    for (size_t i = 0; i < app->nroutes; i++) {
        const struct bsn_kit_route *r = &app->routes[i];
        json_t *item = json_object_get(paths, r->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, r->pattern, item);
        }
        json_t *op = json_object();
        char m[16];
        lower(m, sizeof(m), r->method);
        if (r->summary)
            json_object_set_new(op, "summary", json_string(r->summary));
        /* path parameters from {name} segments */
        json_t *params = json_array();
        for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *e = strchr(p, '}');
            if (!e)
                break;
            json_t *name = json_stringn(p + 1, (size_t)(e - p - 1));
            json_array_append_new(params,
                                  json_pack("{s:o,s:s,s:b,s:{s:s}}", "name", name, "in", "path",
                                            "required", 1, "schema", "type", "string"));
        }
        if (json_array_size(params))
            json_object_set_new(op, "parameters", params);
        else
            json_decref(params);
        if (r->body) {
            char ref[160];
            snprintf(ref, sizeof(ref), "#/components/schemas/%s", r->body->name);
            json_object_set_new(schemas, r->body->name, schema_json(r->body));
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b,s:{s:{s:{s:s}}}}", "required", 1, "content",
                                          "application/json", "schema", "$ref", ref));
        }
        json_t *resp = json_object();
        json_object_set_new(resp, "2XX", json_pack("{s:s}", "description", "success"));
        json_object_set_new(resp, "default",
                            json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", "error", "content",
                                      "application/json", "schema", "$ref",
                                      "#/components/schemas/Error"));
        json_object_set_new(op, "responses", resp);
        json_object_set_new(item, m, op);
    }
    static const char *const builtins[][2] = {
        {"/healthz", "Liveness"},
        {"/readyz", "Readiness"},
        {"/metrics", "Prometheus metrics"},
        {"/openapi.json", "This document"},
    };
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (!json_object_get(paths, builtins[i][0]))
            json_object_set_new(paths, builtins[i][0],
                                json_pack("{s:{s:s,s:[s],s:{s:{s:s}}}}", "get", "summary",
                                          builtins[i][1], "tags", "builtin", "responses", "200",
                                          "description", "ok"));
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:o}}", "openapi", "3.0.3", "info", "title",
                     app->name, "version", app->version, "paths", paths, "components", "schemas",
                     schemas);
}

const char bsn_kit_docs_html[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>API docs</title>\n"
    "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
    ".op{border:1px solid #ccc;border-radius:4px;margin:.5em 0;padding:.5em}"
    ".m{display:inline-block;min-width:4em;font-weight:bold;text-transform:uppercase}"
    "pre{background:#f6f6f6;padding:.5em;overflow:auto}</style></head>\n"
    "<body><h1 id=\"t\">API</h1><div id=\"ops\">loading /openapi.json ...</div>\n"
    "<script>\n"
    "function esc(s){return String(s).replace(/[&<>\"]/g,function(c){"
    "return{'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c];});}\n"
    "fetch('openapi.json').then(function(r){return r.json();}).then(function(d){\n"
    " document.getElementById('t').textContent=d.info.title+' '+d.info.version;\n"
    " var h='';Object.keys(d.paths).forEach(function(p){var it=d.paths[p];\n"
    "  Object.keys(it).forEach(function(m){var o=it[m];h+='<div class=\"op\"><span class=\"m\">'"
    "+esc(m)+'</span> <code>'+esc(p)+'</code> '+esc(o.summary||'');\n"
    "   if(o.requestBody){var ref=o.requestBody.content['application/json'].schema.$ref;"
    "var n=ref.split('/').pop();h+='<pre>'+esc(n+' '+JSON.stringify(d.components.schemas[n],"
    "null,2))+'</pre>';}\n"
    "   h+='</div>';});});\n"
    " document.getElementById('ops').innerHTML=h;});\n"
    "</script></body></html>\n";
