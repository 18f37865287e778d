// foreach: run a task command over a set of tasks, as crash does:
//
//   foreach [pid | task | name | 'regex']... [RU|IN|UN|...] [kernel|user|gleader|active] CMD [options]
//
// CMD is bt, vm, task, files, set, ps, sig, net or vtop. Each selected task's output comes in task-table
// order; bt, vm, task and files print the task's header themselves (set gets it from
// foreach, as does vtop, which translates its addresses in each task's address space: crash's
// `vtop -c TASK`), blank lines separate the tasks (task -R ends its own output with one), and ps runs
// once over the selected tasks (one table).
#include <map>
#include <set>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/session_flags.h"
#include "kernel/tasks.h"

namespace coroner::commands {
namespace {

using kernel::Task;

const std::set<std::string>& supported_names() {
  static const std::set<std::string> names = {"bt", "vm", "task", "files", "set", "ps", "sig", "net", "vtop"};
  return names;
}

Result<void> foreach_tasks(Session& s, const Args& args, Output& out) {
  const kernel::TaskTable& tt = *TRY(kernel::task_table(s.kernel));
  static const std::set<std::string> states = {"RU", "IN", "UN", "ST", "TR", "ZO", "DE", "PA", "WA", "ID", "NE", "SW"};
  std::vector<std::string> selectors, state_sel;
  bool kernel_only = false, user_only = false, gleader_only = false, active_only = false;
  size_t i = 0;
  for (; i < args.positional.size(); ++i) {
    const std::string& w = args.positional[i];
    if (supported_names().count(w)) break;
    if (states.count(w)) state_sel.push_back(w);
    else if (w == "kernel") kernel_only = true;
    else if (w == "user") user_only = true;
    else if (w == "gleader") gleader_only = true;
    else if (w == "active") active_only = true;
    else selectors.push_back(w);
  }
  if (i == args.positional.size()) {
    // No command: crash's usage (a restart) when nothing was given at all, else its
    // error(INFO)s, the unknown arguments first, and no restart (kernel/session_flags.h).
    if (args.positional.empty()) {
      out.write(usage_block(find_command("foreach")->spec));
      return Error{Errc::usage, "", std::nullopt};
    }
    for (auto& sel : selectors)
      if (!select_tasks(tt, sel)) out.print("foreach: unknown argument: \"{}\"\n", sel);
    out.print("foreach: no keywords specified\n");
    return kernel::info_error(s.kernel, Error{Errc::usage, "", std::nullopt});
  }
  const std::string name = args.positional[i];
  std::vector<std::string> sub(args.positional.begin() + static_cast<long>(i) + 1, args.positional.end());
  // vtop's -c takes no PID from foreach (each task is the context): drop it here, and give
  // each run `-c TASK` below.
  if (name == "vtop") std::erase(sub, std::string("-c"));
  const Command* cmd = find_command(name);
  if (!cmd) return Error::make(Errc::not_found, "foreach: no {} command", name);
  // crash's foreach reads every command's options with one getopt of its own: a letter it does
  // not know (or -R without its argument) is its usage, a restart, before anything else is
  // looked at. Of the letters it knows, each command takes its own (kPassed), a few are an
  // error, and the rest are ignored (`foreach 1 vm -a` lists the VMAs). Found letter by letter
  // with crash 9.0.2 on the 6.1 kdump.elf (foreach.tsv). -j (JSON, docs/json.md) is coroner's.
  static constexpr std::string_view kForeachLetters = "acdefghklmoprstuvxFGSTRj";
  static const std::map<std::string, std::string, std::less<>> kPassed = {
      {"bt", "rtTlesRfFoxdj"}, {"vm", "pvmRdx"}, {"task", "Rdx"}, {"files", "cR"}, {"set", ""},
      {"ps", "Gspctlagmr"}, {"sig", "g"},     {"net", "sSRdx"},  {"vtop", "uk"}};
  auto foreach_usage = [&] {
    out.write(usage_block(find_command("foreach")->spec));
    return Error{Errc::usage, "", std::nullopt};
  };
  std::string letters;  // every letter given, for the errors below
  {
    std::vector<std::string> kept;
    const std::string& passed = kPassed.at(name);
    for (size_t j = 0; j < sub.size(); ++j) {
      const std::string& w = sub[j];
      if (w.size() < 2 || w[0] != '-') {
        kept.push_back(w);
        continue;
      }
      std::string flags;
      for (size_t c = 1; c < w.size(); ++c) {
        char f = w[c];
        if (kForeachLetters.find(f) == std::string_view::npos) {
          return foreach_usage();
        }
        letters += f;
        if (f != 'R') {
          if (name == "task" && f == 'h') f = 'x';  // foreach's -h is task's hexadecimal
          if (passed.find(f) != std::string::npos) flags += f;
          continue;
        }
        // -R VALUE: the rest of this word, else the next one.
        std::string value = w.substr(c + 1);
        if (value.empty()) {
          if (j + 1 >= sub.size()) {
            return foreach_usage();
          }
          value = sub[++j];
        }
        if (!flags.empty()) kept.push_back("-" + flags);
        flags.clear();
        if (passed.find('R') != std::string::npos) {
          kept.push_back("-R");
          kept.push_back(value);
        }
        break;
      }
      if (!flags.empty()) kept.push_back("-" + flags);
    }
    sub = std::move(kept);
  }
  if (name == "bt" && letters.find('g') != std::string::npos)
    return Error::make(Errc::usage, "bt -g option is not supported when issued from foreach");
  if (name == "files" && letters.find('p') != std::string::npos)
    return Error::make(Errc::usage, "files command does not support -p option");
  if (name == "sig" && (letters.find('l') != std::string::npos || letters.find('s') != std::string::npos))
    return Error::make(Errc::usage, "sig: -l and -s options are not applicable");
  auto parsed = parse_args(cmd->spec, sub);
  if (!parsed) return foreach_usage();
  Args sub_args = std::move(*parsed);
  if (name == "vtop") {
    bool address = false;
    for (auto& w : sub) address = address || (w.empty() || w[0] != '-');
    if (!address) return Error::make(Errc::usage, "foreach command requires address argument");
  }

  std::vector<const Task*> chosen;
  std::set<uint64_t> named;
  // crash names each PID, task or command that matches nothing and goes on with the others;
  // when none of them matches, nothing runs.
  bool any_selected = false;
  for (auto& sel : selectors) {
    auto tasks = select_tasks(tt, sel);
    if (!tasks) {
      out.print("foreach: unknown argument: \"{}\"\n", sel);
      continue;
    }
    any_selected = true;
    for (auto* t : *tasks) named.insert(t->addr);
  }
  if (!selectors.empty() && !any_selected) {
    kernel::error_is_info(s.kernel);  // crash's error(INFO)s: no restart (kernel/session_flags.h)
    return Error{Errc::not_found, "", {}};
  }
  bool filtered = !selectors.empty() || !state_sel.empty() || kernel_only || user_only || gleader_only || active_only;
  for (auto& t : tt.tasks) {
    if (!selectors.empty() && !named.count(t.addr)) continue;
    if (!state_sel.empty()) {
      std::string st = kernel::task_state_code(s.kernel, t);
      bool match = false;
      for (auto& x : state_sel) match = match || x == st;
      if (!match) continue;
    }
    if (kernel_only && !t.kernel_thread()) continue;
    if ((user_only || gleader_only) && t.kernel_thread()) continue;
    if (gleader_only && t.pid != t.tgid) continue;
    if (active_only && !tt.is_active(t.addr)) continue;
    chosen.push_back(&t);
  }

  if (name == "ps") {
    // One table: ps over the chosen tasks (all of them when nothing narrows the choice).
    std::vector<std::string> argv = sub;
    if (filtered)
      for (auto* t : chosen) argv.push_back(fmt::format("{:x}", t->addr));
    if (filtered && chosen.empty()) return ok();
    return cmd->run(s, TRY(parse_args(cmd->spec, argv)), out);
  }
  // net needs -s or -S from foreach; crash warns and uses -s.
  if (name == "net" && !sub_args.has('s') && !sub_args.has('S')) {
    out.print("WARNING: net command requires -s or -S option\n\n");
    sub.insert(sub.begin(), "-s");
    sub_args = TRY(parse_args(cmd->spec, sub));
  }
  // task -R ends each task's members with a blank line of its own; bt -R shows only the
  // tasks that match, each followed by one, as net -R does; sig ends each task's data with
  // one.
  bool own_separator =
      ((name == "task" || name == "bt" || name == "net" || name == "files" || name == "vm") && sub_args.has('R')) ||
      name == "sig" || (name == "bt" && sub_args.has('j'));  // bt -j: one JSON document per line
  // sig -g over every task shows each thread group once, from its leader, and the idle tasks
  // once (as one group); named tasks show their group whichever thread was named.
  bool idle_group_shown = false;
  for (size_t j = 0; j < chosen.size(); ++j) {
    const Task& t = *chosen[j];
    if (name == "sig" && sub_args.has('g')) {
      if (selectors.empty() && t.pid != t.tgid) continue;
      if (t.pid == 0 && idle_group_shown) continue;
      if (t.pid == 0) idle_group_shown = true;
    }
    if (j && !own_separator) out.print("\n");
    std::vector<std::string> argv = sub;
    if (name == "vtop") {
      // crash's foreach calls do_vtop() once per address: no blank line between them.
      out.print("{}\n", task_header(t));
      std::vector<std::string> flags, addresses;
      for (auto& w : sub) (!w.empty() && w[0] == '-' ? flags : addresses).push_back(w);
      Result<void> r = ok();
      for (auto& addr : addresses) {
        std::vector<std::string> one = {"-c", fmt::format("{:x}", t.addr)};
        one.insert(one.end(), flags.begin(), flags.end());
        one.push_back(addr);
        r = cmd->run(s, TRY(parse_args(cmd->spec, one)), out);
        if (!r) break;
      }
      if (!r && !r.error().message.empty()) out.print("{}: {}\n", name, r.error().message);
      continue;
    }
    argv.push_back(fmt::format("{:x}", t.addr));
    Args a = TRY(parse_args(cmd->spec, argv));
    Result<void> r = ok();
    if (name == "set") {
      // The task's context as `set` shows it, without switching to it.
      out.print("{}\n", task_header(t));
      auto saved = s.current_task;
      r = cmd->run(s, a, out);
      s.current_task = saved;
    } else {
      r = cmd->run(s, a, out);
    }
    if (!r && !r.error().message.empty()) out.print("{}: {}\n", name, r.error().message);
  }
  return ok();
}

}  // namespace

std::vector<Command> foreach_commands() {
  return {Command{CommandSpec{"foreach",
                              {},
                              "display command data for multiple tasks in the system",
                              "[[pid | taskp | name | state | [kernel | user | gleader]] ...]\n"
                              "          command [flag] [argument]",
                              {},
                              {"foreach bt", "foreach UN bt", "foreach kernel bt -s", "foreach vm", "foreach files",
                               "foreach 'cor.*' task -R pid", "foreach user vtop 400000"},
                              true},
                  foreach_tasks}};
}

}  // namespace coroner::commands
