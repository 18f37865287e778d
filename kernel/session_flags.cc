#include "kernel/session_flags.h"

#include <map>

namespace coroner::kernel {
namespace {

struct SessionFlags {
  bool header_printed = false;         // HEADER_PRINTED
  std::optional<uint64_t> forced_mm;   // MM_STRUCT_FORCE, curcmd_private
  std::map<uint64_t, uint64_t> given;  // task -> mm (tc->mm_struct of a task without one)
  uint64_t cleanup_task = 0;           // the task vm_cleanup() undoes (the last one given)
  bool info_error = false;             // the failing command's error was an error(INFO)
};

}  // namespace

bool take_page_header(Kernel& k) {
  bool& printed = k.extension<SessionFlags>().header_printed;
  bool due = !printed;
  printed = true;
  return due;
}
void forget_page_header(Kernel& k) { k.extension<SessionFlags>().header_printed = false; }

void restart_session_flags(Kernel& k) {
  auto& f = k.extension<SessionFlags>();
  f.header_printed = false;
  f.forced_mm.reset();
  f.info_error = false;
  if (f.cleanup_task) f.given.erase(f.cleanup_task);
  f.cleanup_task = 0;
}

void error_is_info(Kernel& k) { k.extension<SessionFlags>().info_error = true; }
Error info_error(Kernel& k, Error e) {
  error_is_info(k);
  return e;
}

void after_command(Kernel& k, bool failed) {
  auto& f = k.extension<SessionFlags>();
  bool info = f.info_error;
  f.info_error = false;
  if (failed && !info) restart_session_flags(k);
}

void force_mm(Kernel& k, uint64_t mm) { k.extension<SessionFlags>().forced_mm = mm; }
std::optional<uint64_t> forced_mm(Kernel& k) { return k.extension<SessionFlags>().forced_mm; }

uint64_t given_mm(Kernel& k, uint64_t task) {
  auto& f = k.extension<SessionFlags>();
  auto it = f.given.find(task);
  return it == f.given.end() ? 0 : it->second;
}

uint64_t effective_mm(Kernel& k, uint64_t task, uint64_t own_mm) {
  if (own_mm) return own_mm;
  auto& f = k.extension<SessionFlags>();
  if (uint64_t mm = given_mm(k, task)) return mm;
  if (!f.forced_mm) return 0;
  f.given[task] = *f.forced_mm;
  f.cleanup_task = task;
  return *f.forced_mm;
}

}  // namespace coroner::kernel
