// task: a task's struct task_struct and struct thread_info in gdb's layout, as crash prints
// them, or only some members (`task -R pid,comm 1`, `task pid 1`: a word that is not a PID or
// task address names a member, as in crash).
#include <charconv>

#include "commands/builtin.h"
#include "commands/support/tasks.h"
#include "kernel/kernel.h"
#include "kernel/object_sizes.h"
#include "kernel/session_flags.h"
#include "kernel/tasks.h"
#include "kernel/value_context.h"

namespace coroner::commands {
namespace {

using kernel::Task;

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t c = s.find(',');
    if (c != 0) out.emplace_back(s.substr(0, c));
    s = c == std::string_view::npos ? std::string_view() : s.substr(c + 1);
  }
  return out;
}

enum class Radix { natural, hex, decimal };

// One of the two structures crash shows for a task: where it lies and its type.
struct Shown {
  const char* type_name;
  symbols::TypeRef type;
  uint64_t addr;
};

Result<std::vector<uint8_t>> read_struct(kernel::Kernel& k, const Shown& sh) {
  uint64_t size = TRY(k.types().size_of(sh.type));
  if (size > (16u << 20)) return Error::make(Errc::out_of_bounds, "structure at {:x} is {} bytes", sh.addr, size);
  // A task_struct whose debuginfo size runs past its real end into a page the dump does not hold
  // is shown as crash shows it: what was read, then zeros (kernel/object_sizes.h).
  return kernel::read_shown_structure(k, sh.type_name, sh.addr, size);
}

// `  member = value,` for a member (a dotted path) of a structure, or nothing when it has none.
Result<std::optional<std::string>> member_line(kernel::Kernel& k, const Shown& sh, std::span<const uint8_t> bytes,
                                               const std::string& path, Radix radix) {
  auto& types = k.types();
  auto mi = types.member(sh.type, path);
  if (!mi) return std::optional<std::string>{};
  uint64_t msize = TRY(types.size_of(mi->type));
  symbols::TypeRef rt = types.resolve(mi->type);
  bool integer = types.kind(rt) == symbols::TypeKind::integer;
  if (mi->bit_size || (integer && radix != Radix::natural)) {
    // Integers by hand: bit fields, and -x/-d.
    uint64_t first = mi->bit_offset / 8, last = (mi->bit_offset + (mi->bit_size ? mi->bit_size : msize * 8) - 1) / 8;
    if (last >= bytes.size() || last - first >= 8) return std::optional<std::string>{};
    uint64_t raw = 0;
    for (uint64_t i = last + 1; i-- > first;) raw = (raw << 8) | bytes[i];
    uint64_t bits = mi->bit_size ? mi->bit_size : msize * 8;
    raw >>= mi->bit_offset % 8;
    if (bits < 64) raw &= (uint64_t{1} << bits) - 1;
    bool is_signed = types.name(rt).find("unsigned") == std::string::npos && types.name(rt) != "_Bool" &&
                     types.name(rt).rfind("u", 0) != 0;
    std::string v;
    if (radix == Radix::hex) {
      v = fmt::format("{:#x}", raw);
    } else if (is_signed && bits < 64 && (raw >> (bits - 1)) & 1) {
      v = fmt::format("{}", static_cast<int64_t>(raw | ~((uint64_t{1} << bits) - 1)));
    } else if (is_signed && bits == 64) {
      v = fmt::format("{}", static_cast<int64_t>(raw));
    } else {
      v = fmt::format("{}", raw);
    }
    return std::optional<std::string>{fmt::format("  {} = {},\n", path, v)};
  }
  if (mi->offset() >= bytes.size()) return std::optional<std::string>{};
  kernel::KernelValueContext ctx(k);
  auto mb = bytes.subspan(mi->offset(), std::min<uint64_t>(msize, bytes.size() - mi->offset()));
  return std::optional<std::string>{
      fmt::format("  {} = {},\n", path, TRY(types.format_value(mi->type, mb, ctx, 1, sh.addr + mi->offset())))};
}

Result<void> show_task(kernel::Kernel& k, const Task& t, const std::vector<std::string>& members, bool restricted,
                       Radix radix, Output& out) {
  auto& types = k.types();
  std::vector<Shown> shown{{"task_struct", TRY(types.find("struct task_struct")), t.addr}};
  if (auto ti = types.find("struct thread_info")) {
    // Inside task_struct since 4.9 on x86 (CONFIG_THREAD_INFO_IN_TASK), else at the bottom of
    // the stack.
    auto off = k.offset_of("task_struct", "thread_info");
    shown.push_back({"thread_info", *ti, off ? t.addr + *off : t.stack});
  }
  std::vector<std::vector<uint8_t>> bytes;
  for (auto& sh : shown) bytes.push_back(TRY(read_struct(k, sh)));

  out.print("{}\n", task_header(t));
  if (!restricted) {
    // -x/-d: the whole structure in that radix, as crash's dump_struct(..., radix) prints it.
    kernel::KernelValueContext ctx(k, radix == Radix::hex ? 16 : 10);
    for (size_t i = 0; i < shown.size(); ++i)
      out.print("struct {} {}\n\n", shown[i].type_name, TRY(types.format_value(shown[i].type, bytes[i], ctx, 0, shown[i].addr)));
    return ok();
  }
  for (auto& m : members)
    for (size_t i = 0; i < shown.size(); ++i)
      if (auto line = TRY(member_line(k, shown[i], bytes[i], m, radix))) out.write(*line);
  out.print("\n");
  return ok();
}

bool is_member(kernel::Kernel& k, const std::string& path) {
  for (const char* t : {"task_struct", "thread_info"}) {
    auto ty = k.types().find(fmt::format("struct {}", t));
    if (ty && k.types().member(*ty, path)) return true;
  }
  return false;
}

Result<void> run_task(Session& s, const Args& args, Output& out) {
  kernel::Kernel& k = s.kernel;
  const kernel::TaskTable& tt = *TRY(kernel::task_table(k));
  std::vector<std::string> members;
  for (auto [it, end] = args.options.equal_range('R'); it != end; ++it)
    for (auto& m : split_commas(it->second)) members.push_back(m);
  Radix radix = args.has('x') ? Radix::hex : args.has('d') ? Radix::decimal : Radix::natural;

  // Every argument is checked before anything is shown, as crash does.
  std::vector<const Task*> targets;
  bool named_tasks = false;
  bool failed = false;
  for (auto& a : args.positional) {
    bool decimal = !a.empty() && a.find_first_not_of("0123456789") == std::string::npos;
    bool hex = !a.empty() && a.find_first_not_of("0123456789abcdefABCDEFx") == std::string::npos;
    if (decimal || (hex && !is_member(k, a))) {
      named_tasks = true;
      auto sel = select_tasks(tt, a);
      if (!sel || sel->empty()) {
        out.print("task: invalid task or pid value: {}\n\n", a);
        failed = true;
        continue;
      }
      // crash shows every task with a PID (PID 0: each CPU's idle task).
      for (auto* t : *sel) targets.push_back(t);
      continue;
    }
    std::vector<std::string> ms = split_commas(a);
    bool all_members = !ms.empty();
    for (auto& m : ms) all_members = all_members && is_member(k, m);
    if (!all_members) {
      out.print("task: invalid task, pid, or task_struct member: {}\n\n", a);
      failed = true;
      continue;
    }
    for (auto& m : ms) members.push_back(m);
  }
  bool restricted = args.has('R') || !members.empty();
  if (!named_tasks) {
    uint64_t cur = s.current_task ? *s.current_task : (tt.panic ? *tt.panic : 0);
    const Task* t = tt.find(cur);
    if (!t && !tt.tasks.empty()) t = &tt.tasks.front();
    if (t) targets.push_back(t);
  }
  for (auto* t : targets) TRY(show_task(k, *t, members, restricted, radix, out));
  // crash's messages for a bad argument are error(INFO)s: no restart (kernel/session_flags.h).
  if (failed) return kernel::info_error(k, Error{Errc::not_found, "", std::nullopt});
  return ok();
}

}  // namespace

std::vector<Command> task_commands() {
  return {Command{CommandSpec{"task",
                              {},
                              "task_struct and thread_info contents",
                              "[-R member[,member]] [-dx] [pid | taskp] ...",
                              {{'R', true, "only these task_struct/thread_info members (member.member, member[index])"},
                               {'x', false, "integers in hexadecimal (with -R)"},
                               {'d', false, "integers in decimal (with -R)"}},
                              {"task", "task 1", "task -R pid,comm 1 2", "task -R se.on_rq"}},
                  run_task}};
}

}  // namespace coroner::commands
