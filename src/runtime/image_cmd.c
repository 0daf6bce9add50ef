/*
 * image_cmd.c - `bosun image import|pack|pull|ls|rm`: the local image store from the shell.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "runtime/image.h"
#include "runtime/image_cmd.h"
#include "runtime/rt_impl.h"

static const char usage[] =
    "usage: bosun image <command> [--data-dir DIR] ...\n"
    "\n"
    "commands:\n"
    "  import [--name NAME] PATH   import an OCI image layout (dir or tar) or a `docker save`\n"
    "                              archive; NAME names images that carry no name of their own\n"
    "  pack --name NAME [--entrypoint ARG]... [--cmd ARG]... [--env K=V]... [--workdir DIR]\n"
    "       DIR                    build a single-layer image from DIR (repeat --entrypoint and\n"
    "                              --cmd once per argument)\n"
    "  pull [--username U --password P] [--plain-http] [--insecure-tls] [--mirror URL] REF\n"
    "                              pull from a registry (OCI distribution API); the password\n"
    "                              may also come from $BOSUN_REGISTRY_PASSWORD\n"
    "  ls                          list images: NAME DIGEST SIZE\n"
    "  rm REF...                   remove images (name:tag or name@sha256:...) and collect\n"
    "                              unreferenced blobs and layers\n"
    "\n"
    "--data-dir defaults to $BOSUN_DATA_DIR, else /var/lib/bosun as root, else\n"
    "~/.local/share/bosun; images live in <data-dir>/images. The image name \"host\" is\n"
    "built in (the node's own root filesystem, read-only) and never stored.\n";

static char *
default_data_dir(void)
{
    const char *env = getenv("BOSUN_DATA_DIR");
    if (env && *env)
        return bsn_strdup(env);
    if (geteuid() == 0)
        return bsn_strdup("/var/lib/bosun");
    const char *home = getenv("HOME");
    return bsn_sprintf("%s/.local/share/bosun", home && *home ? home : "/tmp");
}

static void
strv_push(char ***v, size_t *n, const char *s)
{
    *v = bsn_realloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = bsn_strdup(s);
    (*v)[*n] = NULL;
}

static void
human_size(int64_t n, char *out, size_t len)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

int
bsn_cmd_image(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    struct bsn_image_store *s = NULL;
    BSN_AUTOFREE char *data_dir = NULL;
    const char *name = NULL, *workdir = NULL;
    struct bsn_registry_auth auth = {.password = getenv("BOSUN_REGISTRY_PASSWORD")};
    char **ep = NULL, **cmd = NULL, **env = NULL;
    size_t nep = 0, ncmd = 0, nenv = 0;
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},
        {"entrypoint", required_argument, NULL, 'e'},
        {"cmd", required_argument, NULL, 'c'},
        {"env", required_argument, NULL, 'E'},
        {"workdir", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int ch, rc = 0;
    while ((ch = getopt_long(argc - 1, argv + 1, "+h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            free(data_dir);
            data_dir = bsn_strdup(optarg);
            break;
        case 'n':
            name = optarg;
            break;
        case 'e':
            strv_push(&ep, &nep, optarg);
            break;
        case 'c':
            strv_push(&cmd, &ncmd, optarg);
            break;
        case 'E':
            if (!strchr(optarg, '=')) {
                fprintf(stderr, "bosun image: --env wants K=V, got '%s'\n", optarg);
                rc = 2;
                goto out;
            }
            strv_push(&env, &nenv, optarg);
            break;
        case 'w':
            workdir = optarg;
            break;
        case 'u':
            auth.username = optarg;
            break;
        case 'p':
            auth.password = optarg;
            break;
        case 'H':
            auth.plain_http = true;
            break;
        case 'k':
            auth.insecure_tls = true;
            break;
        case 'm':
            auth.mirror = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            goto out;
        default:
            fputs(usage, stderr);
            rc = 2;
            goto out;
        }
    }
    int nargs = argc - 1 - optind;
    char **args = argv + 1 + optind;
    if (!data_dir)
        data_dir = default_data_dir();
    struct bsn_err err = {0};
    if (strcmp(sub, "import") && strcmp(sub, "pack") && strcmp(sub, "ls") && strcmp(sub, "rm") &&
        strcmp(sub, "pull")) {
        fprintf(stderr, "bosun image: unknown command '%s'\n%s", sub, usage);
        rc = 2;
        goto out;
    }
    s = bsn_image_store_open(data_dir, &err);
    if (!s) {
        fprintf(stderr, "bosun image: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (!strcmp(sub, "import")) {
        if (nargs != 1) {
            fprintf(stderr, "bosun image import: exactly one PATH expected\n");
            rc = 2;
            goto out;
        }
        char **names = NULL;
        if (bsn_image_import(s, args[0], name, &names, &err) < 0) {
            fprintf(stderr, "bosun image import: %s\n", err.msg);
            rc = 1;
        }
        for (size_t i = 0; names && names[i]; i++)
            printf("imported %s\n", names[i]);
        rt_strv_free(names);
    } else if (!strcmp(sub, "pack")) {
        if (nargs != 1 || !name) {
            fprintf(stderr, "bosun image pack: --name NAME and one DIR expected\n");
            rc = 2;
            goto out;
        }
        if (bsn_image_pack(s, args[0], name, (const char *const *)ep, (const char *const *)cmd,
                           (const char *const *)env, workdir, &err) < 0) {
            fprintf(stderr, "bosun image pack: %s\n", err.msg);
            rc = 1;
        } else {
            struct bsn_image_config c;
            if (bsn_image_resolve(s, name, &c, &err) == 0) {
                printf("packed %s %s\n", c.name, c.digest);
                bsn_image_config_fini(&c);
            }
        }
    } else if (!strcmp(sub, "pull")) {
        if (nargs != 1) {
            fprintf(stderr, "bosun image pull: exactly one REF expected\n");
            rc = 2;
            goto out;
        }
        char pulled[512];
        if (bsn_image_pull(s, args[0], &auth, pulled, sizeof(pulled), &err) < 0) {
            fprintf(stderr, "bosun image pull: %s\n", err.msg);
            rc = 1;
        } else {
            printf("pulled %s\n", pulled);
        }
    } else if (!strcmp(sub, "ls")) {
        struct bsn_image_entry *list = NULL;
        size_t n = 0;
        bsn_image_list(s, &list, &n, &err);
        printf("%-50s %-19s %s\n", "NAME", "DIGEST", "SIZE");
        for (size_t i = 0; i < n; i++) {
            char sz[32];
            human_size(list[i].size, sz, sizeof(sz));
            printf("%-50s %-19.19s %s\n", list[i].name, list[i].digest, sz);
        }
        free(list);
    } else {
        if (nargs < 1) {
            fprintf(stderr, "bosun image rm: at least one REF expected\n");
            rc = 2;
            goto out;
        }
        for (int i = 0; i < nargs; i++) {
            memset(&err, 0, sizeof(err));
            if (bsn_image_remove(s, args[i], &err) < 0) {
                fprintf(stderr, "bosun image rm: %s\n", err.msg);
                rc = 1;
            } else {
                printf("removed %s\n", args[i]);
            }
        }
    }
out:
    bsn_image_store_close(s);
    rt_strv_free(ep);
    rt_strv_free(cmd);
    rt_strv_free(env);
    return rc;
}
