// completion: what TAB offers at the coroner prompt, given the whole line and the word
// being completed: command names and aliases first on a line; a command's options (from its
// spec) for a word starting with '-'; struct/union names after struct, union, whatis and
// `*`, and their members after a dot (`struct task_struct.se.<TAB>`, nested through
// anonymous members); members after a `p` expression's `.` or `->` (`p init_task.mm-><TAB>`:
// the expression's type is evaluated without reading memory); symbol names elsewhere. Types
// come from the vmlinux's BTF, read on first use. Pure functions of their input, so tests
// call them without a terminal:
//
//   Completer c(session);
//   auto m = c.complete("struct task_struct.pi", "task_struct.pi");  // task_struct.pid, ...
//   auto e = c.complete("p init_task.mm->pg", "pg");                  // pgd, ...
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "commands/command.h"
#include "commands/support/expr.h"

struct btf;

namespace coroner::shell {

// The members a C expression can go on with: `text` ends in `.` or `->` and maybe the start
// of a member name ("init_task.mm->pg"); the answer is the matching member names ("pgd"),
// anonymous members' own members inline. The expression before the last `.`/`->` is typed by
// evaluating it over `env` with every memory read answering zeros, so nothing of the dump is
// read and a garbage pointer on the way costs nothing. `b` is the BTF whose type ids `env`'s
// types use. Empty when the text is no such expression or its type has no members.
std::vector<std::string> expression_members(commands::expr::Env& env, const struct btf* b, std::string_view text,
                                            size_t max_matches);

class Completer {
 public:
  explicit Completer(commands::Session& session) : session_(session) {}
  ~Completer();
  // line: the text before the cursor; word: its last word (what is being completed).
  std::vector<std::string> complete(const std::string& line, const std::string& word);
  // Whether the last complete() offered struct members (`p EXPR->`, `struct T.`): the user
  // goes on from a member with `.` or `->`, so the prompt appends no space after one.
  bool offered_members() const { return offered_members_; }

  std::vector<std::string> command_names(const std::string& prefix) const;
  std::vector<std::string> option_names(const std::string& command, const std::string& prefix) const;
  std::vector<std::string> type_names(const std::string& prefix, bool structs, bool unions);
  // "task_struct.se.vr" -> "task_struct.se.vruntime", ...; empty when the path does not resolve.
  std::vector<std::string> member_paths(const std::string& path);
  std::vector<std::string> symbol_names(const std::string& prefix) const;
  // `p EXPR.` / `p EXPR->`: the words (readline's `word`, completed) naming EXPR's members.
  std::vector<std::string> expression_member_words(const std::string& expression, const std::string& word);

  static constexpr size_t kMaxMatches = 2000;

 private:
  const struct btf* btf_data();
  commands::Session& session_;
  struct btf* btf_ = nullptr;
  bool btf_tried_ = false;
  bool offered_members_ = false;
};

}  // namespace coroner::shell
