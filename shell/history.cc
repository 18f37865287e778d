#include "shell/history.h"

#include <fmt/format.h>

namespace coroner::shell {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string_view trim_front(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  return b == std::string_view::npos ? std::string_view() : s.substr(b);
}

HistoryRequest failed(std::string message) { return {HistoryRequest::Kind::failed, "", std::move(message)}; }

// Line N (from 1), as `r N` asks for it.
HistoryRequest numbered(std::string_view number, std::string_view line, const std::vector<std::string>& history) {
  // More digits than any history holds: no such command either way (and no overflow).
  size_t n = number.size() > 9 ? history.size() + 1 : std::stoul(std::string(number));
  if (n == 0) return failed(fmt::format("invalid repeat request: {}", line));
  if (n > history.size()) return failed(fmt::format("command {} not entered yet!", number));
  return {HistoryRequest::Kind::rerun, history[n - 1], ""};
}

}  // namespace

HistoryRequest history_request(std::string_view line, const std::vector<std::string>& history) {
  if (line == "h" || line.starts_with("hi")) {
    if (history.empty()) return failed("no commands entered!");
    return {HistoryRequest::Kind::list, "", ""};
  }
  bool bang_number = line.size() > 1 && line[0] == '!' && all_digits(line.substr(1));
  bool r_number = line.size() > 1 && line[0] == 'r' && all_digits(line.substr(1));
  if (line != "r" && line != "!!" && !bang_number && !r_number && !line.starts_with("r ")) return {};
  if (history.empty()) return failed("no commands entered!");
  if (line == "r" || line == "!!") return {HistoryRequest::Kind::rerun, history.back(), ""};
  if (bang_number || r_number) return numbered(line.substr(1), line, history);
  std::string_view rest = trim_front(line.substr(1));
  if (all_digits(rest)) return numbered(rest, line, history);
  // The latest line beginning with the given characters.
  for (size_t i = history.size(); !rest.empty() && i > 0; --i)
    if (history[i - 1].starts_with(rest)) return {HistoryRequest::Kind::rerun, history[i - 1], ""};
  return failed(fmt::format("invalid repeat request: {}", line));
}

std::string history_listing(const std::vector<std::string>& history) {
  std::string out;
  for (size_t i = 0; i < history.size(); ++i) out += fmt::format("[{}] {}\n", i + 1, history[i]);
  return out;
}

}  // namespace coroner::shell
