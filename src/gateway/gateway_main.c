/*
 * gateway_main.c - the `bosun-gateway` test/bench binary: `bosun gateway` on its own, so the
 * gateway can be tested before (and independently of) the subcommand table in src/main.c.
 */
#include "gateway/gateway.h"

int
main(int argc, char **argv)
{
    return bsn_cmd_gateway(argc, argv);
}
