#include "commands/support/json.h"

#include <cassert>
#include <set>

#include <fmt/format.h>

namespace coroner::commands::json {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the byte there does not
// start one (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // the range allowed for the second byte
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  return n;
}

std::set<std::string, std::less<>>& capable_names() {
  static std::set<std::string, std::less<>> names;
  return names;
}

}  // namespace

void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

void Writer::before_value() {
  if (stack_.empty()) {
    assert(out_.empty() && "one value per document");
    return;
  }
  Level& top = stack_.back();
  if (top.is_object) {
    assert(after_key_ && "a value inside an object needs a key");
    after_key_ = false;
    return;
  }
  if (top.has_items) out_ += ',';
  top.has_items = true;
}

Writer& Writer::object() {
  before_value();
  out_ += '{';
  stack_.push_back({true});
  return *this;
}

Writer& Writer::array() {
  before_value();
  out_ += '[';
  stack_.push_back({false});
  return *this;
}

Writer& Writer::end() {
  assert(!stack_.empty() && !after_key_);
  if (stack_.empty()) return *this;
  out_ += stack_.back().is_object ? '}' : ']';
  stack_.pop_back();
  return *this;
}

Writer& Writer::key(std::string_view name) {
  assert(!stack_.empty() && stack_.back().is_object && !after_key_);
  Level& top = stack_.back();
  if (top.has_items) out_ += ',';
  top.has_items = true;
  append_string(out_, name);
  out_ += ':';
  after_key_ = true;
  return *this;
}

Writer& Writer::string(std::string_view s) {
  before_value();
  append_string(out_, s);
  return *this;
}

Writer& Writer::integer(int64_t v) {
  before_value();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  return *this;
}

Writer& Writer::unsigned_integer(uint64_t v) {
  before_value();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  return *this;
}

Writer& Writer::boolean(bool v) {
  before_value();
  out_ += v ? "true" : "false";
  return *this;
}

Writer& Writer::null() {
  before_value();
  out_ += "null";
  return *this;
}

Writer& Writer::address(uint64_t a) {
  before_value();
  fmt::format_to(std::back_inserter(out_), "\"{:#x}\"", a);
  return *this;
}

Writer& Writer::raw_number(std::string_view number) {
  before_value();
  out_ += number;
  return *this;
}

void Writer::print_line(Output& out) const {
  assert(complete());
  std::string line = out_;
  line += '\n';
  out.write(line);
}

bool wanted(const Session& session, const Args& args) { return session.json || args.has('j'); }

void print_error(Output& out, std::string_view command, std::string_view message) {
  Writer w;
  w.object().field("command", command).field("error", message).end();
  w.print_line(out);
}

Command capable(Command c) {
  capable_names().insert(c.spec.name);
  for (const auto& a : c.spec.aliases) capable_names().insert(a);
  Handler inner = std::move(c.run);
  std::string name = c.spec.name;
  c.run = [inner = std::move(inner), name](Session& s, const Args& args, Output& out) -> Result<void> {
    auto r = inner(s, args, out);
    if (r || !wanted(s, args) || r.error().message.empty()) return r;
    print_error(out, name, r.error().message);
    return Error{r.error().code, "", r.error().address};
  };
  return c;
}

bool supported(std::string_view command_name) { return capable_names().count(command_name) > 0; }

}  // namespace coroner::commands::json
