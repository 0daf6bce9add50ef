/*
 * main.c - the bosun binary: one executable, subcommands in a table (git/crun style).
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "gateway/gateway.h"
#include "net/dns_server.h"
#include "runtime/image_cmd.h"

static int cmd_help(int argc, char **argv);

const struct bsn_command bsn_commands[] = {
    {"server", bsn_cmd_server, "run the control plane (API server, store)"},
    {"agent", bsn_cmd_agent, "run a node agent joined to a remote server"},
    {"kubeconfig", bsn_cmd_kubeconfig, "print the admin kubeconfig of a server"},
    {"dns", bsn_cmd_dns, "serve the cluster DNS zone from a records file"},
    {"gateway", bsn_cmd_gateway, "run the API gateway / ingress data plane"},
    {"image", bsn_cmd_image, "manage the local image store (import, pack, pull, ls, rm)"},
    {"new", bsn_cmd_new, "scaffold a microservice on the kit (bosun new service NAME)"},
    {"version", bsn_cmd_version, "print the version"},
    {"help", cmd_help, "list the commands"},
    {NULL, NULL, NULL},
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: bosun <command> [flags]\n\n"
                 "Bosun: a Kubernetes-compatible microservice platform in one binary.\n\n"
                 "commands:\n");
    for (const struct bsn_command *c = bsn_commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'bosun <command> --help' for the flags of a command.\n");
}

static int
cmd_help(int argc, char **argv)
{
    usage(stdout);
    return 0;
}

int
bsn_cmd_version(int argc, char **argv)
{
    printf("bosun %s\n", BSN_VERSION);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0)
        return bsn_cmd_version(argc - 1, argv + 1);
    for (const struct bsn_command *c = bsn_commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "bosun: unknown command '%s' (see 'bosun --help')\n", argv[1]);
    return 2;
}
