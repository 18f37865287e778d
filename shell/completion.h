// completion: what TAB offers at the coroner prompt, given the whole line and the word
// being completed: command names and aliases first on a line; a command's options (from its
// spec) for a word starting with '-'; struct/union names after struct, union, whatis and
// `*`, and their members after a dot (`struct task_struct.se.<TAB>`, nested through
// anonymous members); symbol names elsewhere. Types come from the vmlinux's BTF, read on
// first use. Pure functions of their input, so tests call them without a terminal:
//
//   Completer c(session);
//   auto m = c.complete("struct task_struct.pi", "task_struct.pi");  // task_struct.pid, ...
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "commands/command.h"

struct btf;

namespace coroner::shell {

class Completer {
 public:
  explicit Completer(commands::Session& session) : session_(session) {}
  ~Completer();
  // line: the text before the cursor; word: its last word (what is being completed).
  std::vector<std::string> complete(const std::string& line, const std::string& word);

  std::vector<std::string> command_names(const std::string& prefix) const;
  std::vector<std::string> option_names(const std::string& command, const std::string& prefix) const;
  std::vector<std::string> type_names(const std::string& prefix, bool structs, bool unions);
  // "task_struct.se.vr" -> "task_struct.se.vruntime", ...; empty when the path does not resolve.
  std::vector<std::string> member_paths(const std::string& path);
  std::vector<std::string> symbol_names(const std::string& prefix) const;

  static constexpr size_t kMaxMatches = 2000;

 private:
  const struct btf* btf_data();
  commands::Session& session_;
  struct btf* btf_ = nullptr;
  bool btf_tried_ = false;
};

}  // namespace coroner::shell
