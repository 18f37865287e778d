// log: the kernel message buffer.
#include "commands/builtin.h"
#include "kernel/printk.h"

namespace coroner::commands {
namespace {

Result<void> run_log(Session& s, const Args& args, Output& out) {
  auto records = TRY(kernel::read_log(s.kernel));
  bool no_time = args.has('t');
  bool level = args.has('m');
  for (const auto& r : records) {
    std::string prefix;
    if (!no_time) prefix = fmt::format("[{:5}.{:06}] ", r.ts_nsec / 1000000000, (r.ts_nsec % 1000000000) / 1000);
    if (level) prefix += fmt::format("<{}>", r.level);
    out.write(prefix);
    for (char c : r.text) {
      if (c == '\n' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) || c == '\t')
        out.write(std::string_view(&c, 1));
      else
        out.print("\\x{:02x}", static_cast<unsigned char>(c));
    }
    out.write("\n");
  }
  return ok();
}

}  // namespace

static Command log_command() {
  return Command{CommandSpec{"log",
                             {"dmesg"},
                             "dump system message buffer",
                             "[-tm]",
                             {{'t', false, "display the message text without the timestamp"},
                              {'m', false, "display the message log level in brackets preceding each message"}},
                             {"log", "log -t | tail"}},
                 run_log};
}

std::vector<Command> log_commands() { return {log_command()}; }

}  // namespace coroner::commands
