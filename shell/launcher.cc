// coroner: the program users run. It does one job itself, `coroner --dmesg DUMP` without a
// vmlinux, linked only against the dump formats and the printk readers so that the process
// stays as small as makedumpfile's; everything else (the shell, --dmesg with a VMLINUX) is
// coroner-shell, found next to this binary and exec'd with the same arguments.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include <fmt/core.h>

#include "shell/dmesg.h"

namespace {

char** g_argv = nullptr;

std::string shell_path() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "coroner-shell";  // no /proc: let execvp search PATH
  std::string dir(self, static_cast<size_t>(n));
  return dir.substr(0, dir.rfind('/') + 1) + "coroner-shell";
}

// Replaces this process with coroner-shell; returns only when that failed.
int exec_shell() {
  std::string path = shell_path();
  execvp(path.c_str(), g_argv);
  fmt::print(stderr, "coroner: cannot run {}: {}\n", path, std::strerror(errno));
  return 127;
}

coroner::Result<std::vector<coroner::kernel::LogRecord>> log_with_vmlinux(const std::string&,
                                                                          const std::vector<std::string>&) {
  int status = exec_shell();
  std::exit(status);
}

}  // namespace

int main(int argc, char** argv) {
  g_argv = argv;
  bool dmesg = false, json = false;
  for (int i = 1; i < argc; ++i) {
    dmesg |= std::strcmp(argv[i], "--dmesg") == 0;
    json |= std::strcmp(argv[i], "--json") == 0;
  }
  if (dmesg && json) {
    // --dmesg prints makedumpfile's text; the log as JSON is the shell's `log` (docs/json.md).
    fmt::print(stderr, "coroner: --json does not apply to --dmesg (makedumpfile's text): use "
                       "`echo log | coroner --json VMLINUX DUMP`\n");
    return 2;
  }
  if (dmesg) return coroner::shell::dmesg_main(argc, argv, log_with_vmlinux);
  return exec_shell();
}
