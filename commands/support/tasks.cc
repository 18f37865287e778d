#include "commands/support/tasks.h"

#include <regex.h>

#include <charconv>

#include <fmt/compile.h>
#include <fmt/format.h>

namespace coroner::commands {

std::string task_header(const kernel::Task& t) {
  int cpu = t.idle ? t.idle_cpu : t.cpu;
  return fmt::format(FMT_COMPILE("PID: {:<8} TASK: {:x}  CPU: {:<3}  COMMAND: \"{}\""), t.pid, t.addr, cpu, t.comm);
}

Result<std::vector<const kernel::Task*>> select_tasks(const kernel::TaskTable& tt, const std::string& arg) {
  std::vector<const kernel::Task*> out;
  if (arg.size() >= 2 && arg.front() == '\'' && arg.back() == '\'') {
    std::string rx = arg.substr(1, arg.size() - 2);
    regex_t re;
    if (regcomp(&re, rx.c_str(), REG_EXTENDED | REG_NOSUB) != 0)
      return Error::make(Errc::usage, "invalid regular expression: {}", rx);
    for (auto& t : tt.tasks)
      if (regexec(&re, t.comm.c_str(), 0, nullptr, 0) == 0) out.push_back(&t);
    regfree(&re);
    return out;
  }
  const char* b = arg.data();
  const char* e = arg.data() + arg.size();
  bool all_digits = !arg.empty() && arg.find_first_not_of("0123456789") == std::string::npos;
  if (all_digits) {
    int64_t pid = 0;
    auto [p, ec] = std::from_chars(b, e, pid, 10);
    if (ec == std::errc() && p == e) {
      for (auto* t : tt.by_pid(static_cast<int32_t>(pid))) out.push_back(t);
      if (out.empty()) return Error::make(Errc::not_found, "invalid task or pid value: {}", arg);
      return out;
    }
  }
  std::string_view hex = arg;
  if (hex.substr(0, 2) == "0x") hex.remove_prefix(2);
  uint64_t addr = 0;
  auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), addr, 16);
  if (!hex.empty() && ec == std::errc() && p == hex.data() + hex.size() && hex.size() >= 8) {
    if (const kernel::Task* t = tt.find(addr)) return std::vector<const kernel::Task*>{t};
    return Error::make(Errc::not_found, "invalid task or pid value: {}", arg);
  }
  std::string name = arg;
  if (!name.empty() && name[0] == '\\') name.erase(0, 1);
  for (auto& t : tt.tasks)
    if (t.comm == name) out.push_back(&t);
  if (out.empty()) return Error::make(Errc::not_found, "invalid task or pid value: {}", arg);
  return out;
}

Result<std::vector<const kernel::Task*>> pid_or_task_args(const kernel::TaskTable& tt, const std::vector<std::string>& args,
                                                          std::optional<uint64_t> current) {
  std::vector<const kernel::Task*> targets;
  for (auto& a : args) {
    bool hexish = !a.empty() && a.find_first_not_of("0123456789abcdefABCDEFx") == std::string::npos;
    auto sel = hexish ? select_tasks(tt, a) : Result<std::vector<const kernel::Task*>>(Error::make(Errc::usage, ""));
    if (!sel || sel->empty()) return Error::make(Errc::usage, "invalid task or pid value: {}", a);
    for (auto* t : *sel) targets.push_back(t);
  }
  if (args.empty()) {
    const kernel::Task* t = tt.find(current ? *current : (tt.panic ? *tt.panic : 0));
    if (!t && !tt.tasks.empty()) t = &tt.tasks.front();
    if (t) targets.push_back(t);
  }
  return targets;
}

}  // namespace coroner::commands
