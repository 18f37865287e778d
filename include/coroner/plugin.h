/* coroner/plugin.h: the interface of coroner command plugins (shared objects loaded at run
 * time with `extend FILE.so`). Plain C, so a plugin may be written in C or C++ and built with
 * any compiler; versioned, so coroner refuses a plugin built for another interface.
 *
 * A plugin defines one function, coroner_plugin_init, which fills in its commands:
 *
 *   static int run_hello(const struct coroner_host* host, int argc, const char* const* argv) {
 *     host->printf(host, "hello from %s\n", argv[0]);
 *     return 0;
 *   }
 *   static const struct coroner_command commands[] = {
 *     {"hello", "say hello", "[name]", NULL, NULL, run_hello},
 *   };
 *   int coroner_plugin_init(const struct coroner_host* host, const struct coroner_command** cmds, size_t* n) {
 *     if (host->abi_version != CORONER_PLUGIN_ABI) return -1;
 *     *cmds = commands; *n = 1; return 0;
 *   }
 *
 * Build: cc -shared -fPIC -I<prefix>/include -o hello.so hello.c   (examples/plugin/).
 * The command table and its strings must live as long as the plugin is loaded. An optional
 * `void coroner_plugin_fini(void)` runs before `extend -u` unloads the object.
 */
#ifndef CORONER_PLUGIN_H
#define CORONER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORONER_PLUGIN_ABI 1

/* An option of a command, for help, completion and option errors. */
struct coroner_option {
  char flag;          /* 'x' for -x */
  int takes_argument; /* nonzero: -x ARG */
  const char* help;
};

struct coroner_host;

/* A command. argv[0] is the command name, argv[1..argc-1] its arguments as typed (options
 * already checked against `options`). Returns 0 on success, nonzero on failure (after
 * printing why with host->error). */
struct coroner_command {
  const char* name;
  const char* summary;                  /* one line, for `help` */
  const char* usage;                    /* after the name, e.g. "[-x] symbol" */
  const struct coroner_option* options; /* terminated by an entry with flag 0; may be NULL */
  const char* const* examples;          /* NULL-terminated; may be NULL */
  int (*run)(const struct coroner_host* host, int argc, const char* const* argv);
};

/* What coroner offers a running command. Pointers are valid only during the call. */
struct coroner_host {
  uint32_t abi_version; /* CORONER_PLUGIN_ABI */
  uint32_t size;        /* sizeof(struct coroner_host) as coroner built it: newer fields at the end */
  void* context;        /* coroner's; pass the host back, never touch this */
  /* Output to wherever the command's output goes (terminal, pipe, file). Returns nonzero when
   * the command should stop (Ctrl-C, closed pipe): return from run() then. */
  int (*printf)(const struct coroner_host* host, const char* format, ...) __attribute__((format(printf, 2, 3)));
  /* An error message for the command's failure (printed as "NAME: message"). */
  void (*error)(const struct coroner_host* host, const char* message);
  /* Kernel virtual memory: 0 when all `len` bytes were read. */
  int (*read_kernel)(const struct coroner_host* host, uint64_t address, void* buffer, size_t len);
  /* A symbol's (KASLR-relocated) address: 0 when found. */
  int (*symbol_address)(const struct coroner_host* host, const char* name, uint64_t* address);
  /* The symbol at or before an address, as "name+0xoff" into buffer; 0 when found. */
  int (*symbolize)(const struct coroner_host* host, uint64_t address, char* buffer, size_t size);
  /* Member offset in a kernel type ("task_struct", "pid"): 0 when found. */
  int (*member_offset)(const struct coroner_host* host, const char* type, const char* member, uint64_t* offset);
  /* Nonzero once Ctrl-C was pressed: long loops that print nothing poll it. */
  int (*interrupted)(const struct coroner_host* host);
};

/* Defined by the plugin. Returns 0 after setting *commands and *count, or nonzero to refuse loading. */
int coroner_plugin_init(const struct coroner_host* host, const struct coroner_command** commands, size_t* count);
typedef int (*coroner_plugin_init_fn)(const struct coroner_host*, const struct coroner_command**, size_t*);
typedef void (*coroner_plugin_fini_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* CORONER_PLUGIN_H */
