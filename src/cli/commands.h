/*
 * commands.h - the subcommands of the bosun binary.
 *
 * Each command is `int bsn_cmd_<name>(int argc, char **argv)` where argv[0] is the command
 * name; it returns the process exit status. src/main.c holds the table.
 */
#ifndef BSN_CLI_COMMANDS_H
#define BSN_CLI_COMMANDS_H

struct bsn_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* The table, terminated by a NULL name (defined in main.c). */
extern const struct bsn_command bsn_commands[];

int bsn_cmd_version(int argc, char **argv);
int bsn_cmd_server(int argc, char **argv);
int bsn_cmd_kubeconfig(int argc, char **argv);
int bsn_cmd_agent(int argc, char **argv);
int bsn_cmd_new(int argc, char **argv);

#endif
