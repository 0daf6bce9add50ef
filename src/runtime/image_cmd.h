/*
 * image_cmd.h - the `bosun image` subcommand (wired into src/main.c's command table).
 */
#ifndef BSN_RUNTIME_IMAGE_CMD_H
#define BSN_RUNTIME_IMAGE_CMD_H

/* argv[0] is "image"; argv[1] the verb: import, pack, pull, ls, rm. Returns the exit status. */
int bsn_cmd_image(int argc, char **argv);

#endif
