/*
 * new.c - `bosun new service NAME`: scaffolds a microservice on the kit (src/kit).
 *
 * Writes DIR/NAME/ (DIR defaults to ./examples when it exists, else .) with main.c (the
 * seed's anatomy: domain, service, resources, config), meson.build, NAME.yaml (Deployment +
 * Service running the binary through the `host` image) and README.md, and adds
 * `subdir('NAME')` to DIR/meson.build when that file exists, so the next build of the tree
 * builds the service. Nothing is overwritten: an existing NAME directory is an error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "cli/commands.h"
#include "cli/util.h"
#include "codec/names.h"

/* @NAME@ is the service name, @CNAME@ its C identifier form (dashes -> underscores). */
static const char tpl_main[] =
    "/*\n"
    " * main.c - the @NAME@ service, on the Bosun microservice kit (docs/kit.md).\n"
    " *\n"
    " * Layers: resources (HTTP handlers: parse, call the service, map errors), service (the use\n"
    " * cases), domain (rules, no I/O), gateway (the store: memory here) and config (environment:\n"
    " * PORT, HOST, LOG_LEVEL). Built in by the kit: /healthz, /readyz, /metrics, /openapi.json,\n"
    " * /docs, JSON access logs with request ids, graceful shutdown on SIGTERM.\n"
    " */\n"
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "\n"
    "#include \"kit/kit.h\"\n"
    "\n"
    "/* ---- domain ---- */\n"
    "\n"
    "static int\n"
    "item_check(const json_t *item, struct bsn_err *err)\n"
    "{\n"
    "    const char *name = json_string_value(json_object_get(item, \"name\"));\n"
    "    if (!name || !*name)\n"
    "        return bsn_err_set(err, 400, \"InvalidItem\", \"an item needs a name\");\n"
    "    return 0;\n"
    "}\n"
    "\n"
    "/* ---- gateway (storage) ---- */\n"
    "\n"
    "struct @CNAME@_store {\n"
    "    json_t *items; /* object: id -> item */\n"
    "    long next_id;\n"
    "};\n"
    "\n"
    "/* ---- service ---- */\n"
    "\n"
    "static json_t *\n"
    "@CNAME@_create(struct @CNAME@_store *st, const json_t *in, struct bsn_err *err)\n"
    "{\n"
    "    if (item_check(in, err) < 0)\n"
    "        return NULL;\n"
    "    char id[32];\n"
    "    snprintf(id, sizeof(id), \"%ld\", st->next_id++);\n"
    "    json_t *item = json_pack(\"{s:s,s:O}\", \"id\", id, \"name\", json_object_get(in, "
    "\"name\"));\n"
    "    json_object_set(st->items, id, item);\n"
    "    return item;\n"
    "}\n"
    "\n"
    "/* ---- resources ---- */\n"
    "\n"
    "static const struct bsn_kit_field new_item_fields[] = {\n"
    "    {\"name\", BSN_KIT_STRING, true, \"the item's name\"},\n"
    "};\n"
    "static const struct bsn_kit_schema new_item = {\"NewItem\", new_item_fields, 1, 256};\n"
    "\n"
    "static void\n"
    "list_items(struct bsn_kit_ctx *ctx, void *data)\n"
    "{\n"
    "    struct @CNAME@_store *st = data;\n"
    "    json_t *out = json_array();\n"
    "    const char *k;\n"
    "    json_t *v;\n"
    "    json_object_foreach (st->items, k, v)\n"
    "        json_array_append(out, v);\n"
    "    bsn_kit_json(ctx, 200, json_pack(\"{s:o}\", \"items\", out));\n"
    "}\n"
    "\n"
    "static void\n"
    "get_item(struct bsn_kit_ctx *ctx, void *data)\n"
    "{\n"
    "    struct @CNAME@_store *st = data;\n"
    "    const char *id = bsn_kit_param(ctx, \"id\");\n"
    "    json_t *item = json_object_get(st->items, id);\n"
    "    if (!item)\n"
    "        return bsn_kit_error(ctx, 404, \"ItemNotFound\", \"item %s not found\", id);\n"
    "    bsn_kit_json(ctx, 200, json_incref(item));\n"
    "}\n"
    "\n"
    "static void\n"
    "create_item(struct bsn_kit_ctx *ctx, void *data)\n"
    "{\n"
    "    struct bsn_err err;\n"
    "    bsn_err_clear(&err);\n"
    "    json_t *item = @CNAME@_create(data, bsn_kit_body(ctx), &err);\n"
    "    if (!item)\n"
    "        return bsn_kit_error_err(ctx, &err);\n"
    "    bsn_kit_json(ctx, 201, item);\n"
    "}\n"
    "\n"
    "int\n"
    "main(void)\n"
    "{\n"
    "    struct @CNAME@_store st = {.items = json_object(), .next_id = 1};\n"
    "    struct bsn_kit_app *app = bsn_kit_app_new(\"@NAME@\");\n"
    "    bsn_kit_route(app, \"GET\", \"/items\", list_items, &st, NULL, \"List items\");\n"
    "    bsn_kit_route(app, \"POST\", \"/items\", create_item, &st, &new_item, \"Add an item\");\n"
    "    bsn_kit_route(app, \"GET\", \"/items/{id}\", get_item, &st, NULL, \"Get one item\");\n"
    "    int rc = bsn_kit_app_run(app, NULL);\n"
    "    bsn_kit_app_free(app);\n"
    "    json_decref(st.items);\n"
    "    return rc < 0 ? 1 : 0;\n"
    "}\n";

static const char tpl_meson[] =
    "# @NAME@: a service on the Bosun microservice kit (made by `bosun new service`).\n"
    "executable('@NAME@', files('main.c'),\n"
    "  include_directories : inc, implicit_include_directories : false,\n"
    "  dependencies : [bsn_kit_dep], install : false)\n";

static const char tpl_yaml[] =
    "# @NAME@ on Bosun: a Deployment running the built binary through the `host` image and a\n"
    "# ClusterIP Service (http://@NAME@ from other pods). Render the binary's path, then apply:\n"
    "#   examples/render.sh examples/@NAME@/@NAME@.yaml | kubectl apply -f -\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: @NAME@\n"
    "  labels: {app: @NAME@}\n"
    "spec:\n"
    "  replicas: 2\n"
    "  selector:\n"
    "    matchLabels: {app: @NAME@}\n"
    "  template:\n"
    "    metadata:\n"
    "      labels: {app: @NAME@}\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: @NAME@\n"
    "        image: host\n"
    "        command: [\"BOSUN_EXAMPLES/@NAME@/@NAME@\"]\n"
    "        env:\n"
    "        - {name: PORT, value: \"8080\"}\n"
    "        - name: HOST\n"
    "          valueFrom: {fieldRef: {fieldPath: status.podIP}}\n"
    "        ports:\n"
    "        - {name: http, containerPort: 8080}\n"
    "        readinessProbe:\n"
    "          httpGet: {path: /readyz, port: http}\n"
    "          periodSeconds: 2\n"
    "        livenessProbe:\n"
    "          httpGet: {path: /healthz, port: http}\n"
    "          periodSeconds: 10\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata:\n"
    "  name: @NAME@\n"
    "spec:\n"
    "  selector: {app: @NAME@}\n"
    "  ports:\n"
    "  - {name: http, port: 80, targetPort: http}\n";

static const char tpl_readme[] =
    "# @NAME@\n"
    "\n"
    "A service on the Bosun microservice kit, made by `bosun new service @NAME@`. Edit\n"
    "`main.c`: the domain rules, the service functions, the routes.\n"
    "\n"
    "```sh\n"
    "ninja -C build                                 # builds build/examples/@NAME@/@NAME@\n"
    "PORT=8080 build/examples/@NAME@/@NAME@ &\n"
    "curl -XPOST localhost:8080/items -d '{\"name\":\"first\"}'\n"
    "curl localhost:8080/items/1\n"
    "curl localhost:8080/openapi.json               # or open http://localhost:8080/docs\n"
    "examples/render.sh examples/@NAME@/@NAME@.yaml | kubectl apply -f -\n"
    "```\n";

/* Writes tpl with @NAME@/@CNAME@ replaced into dir/file; fails if the file exists. */
static int
write_template(const char *dir, const char *file, const char *tpl, const char *name)
{
    struct bsn_buf out = {0};
    for (const char *p = tpl; *p;) {
        if (strncmp(p, "@NAME@", 6) == 0) {
            bsn_buf_puts(&out, name);
            p += 6;
        } else if (strncmp(p, "@CNAME@", 7) == 0) {
            for (const char *n = name; *n; n++)
                bsn_buf_putc(&out, *n == '-' ? '_' : *n);
            p += 7;
        } else {
            bsn_buf_putc(&out, *p++);
        }
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "wx");
    int rc = -1;
    if (f) {
        rc = fwrite(out.data, 1, out.len, f) == out.len ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    if (rc < 0)
        fprintf(stderr, "bosun new: %s: %s\n", path, strerror(errno));
    bsn_buf_fini(&out);
    return rc;
}

/* Appends subdir('name') to dir/meson.build if it exists and does not list it yet. */
static int
register_subdir(const char *dir, const char *name, bool *done)
{
    char path[4096], line[512];
    snprintf(path, sizeof(path), "%s/meson.build", dir);
    snprintf(line, sizeof(line), "subdir('%s')", name);
    *done = false;
    size_t len;
    char *cur = bsn_read_file(path, &len);
    if (!cur)
        return errno == ENOENT ? 0 : -1;
    bool listed = strstr(cur, line) != NULL;
    bool nl = len == 0 || cur[len - 1] == '\n';
    free(cur);
    if (listed)
        return 0;
    FILE *f = fopen(path, "a");
    if (!f || fprintf(f, "%s%s\n", nl ? "" : "\n", line) < 0 || fclose(f) != 0) {
        fprintf(stderr, "bosun new: %s: %s\n", path, strerror(errno));
        return -1;
    }
    *done = true;
    return 0;
}

static void
new_usage(FILE *out)
{
    fprintf(out, "usage: bosun new service NAME [--dir DIR]\n\n"
                 "Scaffolds a microservice on the Bosun kit in DIR/NAME (DIR: ./examples when it\n"
                 "exists, else the current directory): main.c, meson.build, NAME.yaml, README.md.\n"
                 "NAME must be a DNS-1123 label (it becomes the Service's DNS name).\n");
}

int
bsn_cmd_new(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        if (c == 'd') {
            dir = optarg;
        } else if (c == 'h') {
            new_usage(stdout);
            return 0;
        } else {
            new_usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "service") != 0) {
        new_usage(stderr);
        return 2;
    }
    const char *name = argv[optind + 1];
    struct bsn_name_msgs msgs = {0};
    if (bsn_validate_dns1123_label(name, &msgs) > 0) {
        fprintf(stderr, "bosun new: invalid service name \"%s\": %s\n", name, msgs.msg[0]);
        return 2;
    }
    struct stat st;
    if (!dir)
        dir = stat("examples", &st) == 0 && S_ISDIR(st.st_mode) ? "examples" : ".";
    char sdir[4096];
    snprintf(sdir, sizeof(sdir), "%s/%s", dir, name);
    if (mkdir(sdir, 0755) < 0) {
        fprintf(stderr, "bosun new: %s: %s\n", sdir,
                errno == EEXIST ? "already exists (nothing was changed)" : strerror(errno));
        return 1;
    }
    char yaml[300];
    snprintf(yaml, sizeof(yaml), "%s.yaml", name);
    bool registered = false;
    if (write_template(sdir, "main.c", tpl_main, name) < 0 ||
        write_template(sdir, "meson.build", tpl_meson, name) < 0 ||
        write_template(sdir, yaml, tpl_yaml, name) < 0 ||
        write_template(sdir, "README.md", tpl_readme, name) < 0 ||
        register_subdir(dir, name, &registered) < 0)
        return 1;
    printf("created %s/ (main.c, meson.build, %s, README.md)\n", sdir, yaml);
    if (registered)
        printf("added subdir('%s') to %s/meson.build\n", name, dir);
    else
        printf("add subdir('%s') to the meson.build that builds %s\n", name, dir);
    return 0;
}
