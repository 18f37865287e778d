// json: the one JSON writer of coroner's `--json` / `-j` output (docs/json.md), and the glue
// that makes a command JSON-capable. One command prints one JSON document on one line.
//
// Conventions (docs/json.md): kernel addresses and pointers are strings "0x..." (lower-case
// hex, no padding: json::Writer::address), because many JSON tools read numbers as doubles;
// counts, sizes, PIDs and byte totals are integers; text is a JSON string with control bytes
// escaped and each byte of invalid UTF-8 replaced by U+FFFD (kernel strings are bytes).
//
// Writing a document:
//
//   json::Writer w;
//   w.object().field("command", "ps").key("tasks").array();
//   for (const auto& t : tasks)
//     w.object().field("pid", t.pid).address_field("task", t.addr).field("comm", t.comm).end();
//   w.end().end();
//   w.print_line(out);  // {"command":"ps","tasks":[{"pid":0,"task":"0xffffffff82a0c940",...}]}\n
//
// Making a command JSON-capable (in its NAME_commands() factory):
//
//   return {json::capable(Command{spec_with_or_without_j, run})};
//
// json::capable records the name (json::supported(name) is then true, which the shell asks
// under --json: an unsupported command prints {"command":NAME,"error":"..."} instead of text)
// and wraps the handler so that, in JSON mode, a failure is printed as
// {"command":NAME,"error":MESSAGE} and returned with an empty message (the shell prints
// nothing more). Inside the handler, json::wanted(session, args) says whether to print JSON:
// the session is in --json mode, or the command was given -j (only where crash's own option
// set leaves -j free; the spec must then list OptionSpec{'j', false, ...}).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "commands/command.h"

namespace coroner::commands::json {

// Appends `s` as a JSON string literal (quotes included) to `out`: `"` and `\` escaped,
// control bytes (< 0x20, 0x7f) as \n, \t, \r, \b, \f or \u00XX, invalid UTF-8 (stray
// continuation bytes, overlong forms, surrogates, beyond U+10FFFF, truncated sequences)
// replaced by \ufffd per offending byte; valid UTF-8 copied as is.
void append_string(std::string& out, std::string_view s);

// A streaming writer: values are appended in order, commas and nesting handled here.
// Misuse (a value without a key inside an object, end() with nothing open) is a programming
// error and aborts in debug builds; str() of an incomplete document closes nothing.
class Writer {
 public:
  Writer& object();  // {
  Writer& array();   // [
  Writer& end();     // closes the innermost object or array
  Writer& key(std::string_view name);  // the next value's member name (inside an object)

  Writer& string(std::string_view s);
  Writer& integer(int64_t v);
  Writer& unsigned_integer(uint64_t v);
  Writer& boolean(bool v);
  Writer& null();
  Writer& address(uint64_t a);  // "0x..." string (see the conventions above)
  // A number already formatted by the caller (e.g. a percentage "12.5" as crash rounds it);
  // `number` must be a valid JSON number.
  Writer& raw_number(std::string_view number);

  // key(name) then the value, chosen by type: strings, bool, integral types.
  Writer& field(std::string_view name, std::string_view v) { return key(name).string(v); }
  Writer& field(std::string_view name, const char* v) { return key(name).string(v); }
  Writer& field(std::string_view name, const std::string& v) { return key(name).string(v); }
  Writer& field(std::string_view name, bool v) { return key(name).boolean(v); }
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Writer& field(std::string_view name, T v) {
    key(name);
    if constexpr (std::is_signed_v<T>) return integer(static_cast<int64_t>(v));
    else return unsigned_integer(static_cast<uint64_t>(v));
  }
  Writer& address_field(std::string_view name, uint64_t a) { return key(name).address(a); }
  Writer& null_field(std::string_view name) { return key(name).null(); }

  const std::string& str() const { return out_; }
  bool complete() const { return stack_.empty() && !out_.empty(); }
  // Writes the document and a newline (one document per line).
  void print_line(Output& out) const;

 private:
  void before_value();
  std::string out_;
  struct Level {
    bool is_object;
    bool has_items = false;
  };
  std::vector<Level> stack_;
  bool after_key_ = false;
};

// Whether this run of the command prints JSON: `--json` for the session or -j given.
bool wanted(const Session& session, const Args& args);

// The error document: {"command":COMMAND,"error":MESSAGE} on one line.
void print_error(Output& out, std::string_view command, std::string_view message);

// Marks `c` as JSON-capable (see above) and returns it with its handler wrapped.
Command capable(Command c);

// Whether a command (by its name, as find_command returned it) went through capable().
bool supported(std::string_view command_name);

}  // namespace coroner::commands::json
