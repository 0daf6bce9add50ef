/*
 * bosun_dns_main.c - a test/bench helper binary that runs only `bosun dns` (same code as the
 * real subcommand), so the DNS server can be exercised before it is wired into src/main.c:
 * `bosun-dns dns --listen ...`.
 */
#include <stdio.h>
#include <string.h>

int bsn_cmd_dns(int argc, char **argv);

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "dns") != 0) {
        fprintf(stderr, "usage: %s dns [flags] (see dns --help)\n", argv[0]);
        return 2;
    }
    return bsn_cmd_dns(argc - 1, argv + 1);
}
