/* An example coroner plugin, in plain C against include/coroner/plugin.h: one command,
 * `symval`, printing the 8-byte value stored at each named kernel symbol.
 *
 *   coroner> extend ./libcoroner_symval.so
 *   ./libcoroner_symval.so: shared object loaded
 *   coroner> symval -s jiffies init_task
 *   jiffies: ffffffff912079c0: 00000000fffb6c1e
 *   init_task: ffffffff91012940: 0000000000004000
 *
 * Build outside the coroner tree:  cc -shared -fPIC -I<coroner>/include -o symval.so symval.c */
#include <coroner/plugin.h>
#include <inttypes.h>
#include <string.h>

static int run_symval(const struct coroner_host* host, int argc, const char* const* argv) {
  int symbolic = 0, first = 1;
  if (argc > 1 && strcmp(argv[1], "-s") == 0) {
    symbolic = 1;
    first = 2;
  }
  if (first >= argc) {
    host->error(host, "which symbol? symval [-s] SYMBOL...");
    return 1;
  }
  for (int i = first; i < argc; ++i) {
    uint64_t address, value;
    if (host->symbol_address(host, argv[i], &address) != 0) {
      host->error(host, "no such symbol");
      return 1;
    }
    if (host->read_kernel(host, address, &value, sizeof value) != 0) {
      host->error(host, "cannot read the symbol's memory");
      return 1;
    }
    char where[256] = "";
    if (symbolic && host->symbolize(host, value, where, sizeof where) == 0) {
      if (host->printf(host, "%s: %016" PRIx64 ": %016" PRIx64 " <%s>\n", argv[i], address, value, where)) return 1;
    } else if (host->printf(host, "%s: %016" PRIx64 ": %016" PRIx64 "\n", argv[i], address, value)) {
      return 1; /* Ctrl-C or a closed pipe: stop */
    }
  }
  return 0;
}

static const struct coroner_option symval_options[] = {
    {'s', 0, "also show the value as symbol+offset when it points into the kernel"},
    {0, 0, NULL},
};
static const char* const symval_examples[] = {"symval jiffies", "symval -s init_task", NULL};

static const struct coroner_command commands[] = {
    {"symval", "show the 8-byte value stored at kernel symbols", "[-s] symbol ...", symval_options,
     symval_examples, run_symval},
};

int coroner_plugin_init(const struct coroner_host* host, const struct coroner_command** cmds, size_t* count) {
  if (host->abi_version != CORONER_PLUGIN_ABI) return -1;
  *cmds = commands;
  *count = sizeof commands / sizeof commands[0];
  return 0;
}
