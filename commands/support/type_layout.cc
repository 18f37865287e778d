// crash's rewrite of a type definition (commands/support/type_layout.h).
#include "commands/support/type_layout.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include <fmt/format.h>

namespace coroner::commands {

std::string crash_layout(const std::string& def, uint64_t size, int radix, std::optional<uint64_t> base) {
  auto number = [&](uint64_t v) { return radix == 16 ? fmt::format("{:#x}", v) : std::to_string(v); };
  const size_t width = std::max<size_t>(6, fmt::format("[{}]", number(size)).size() + 2);
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < def.size();) {
    size_t end = std::min(def.find('\n', start), def.size());
    lines.emplace_back(def.data() + start, end - start);
    start = end + 1;
  }
  // A member line with an offset: "   [16] TYPE NAME;" -> where ']' is and the offset.
  auto offset_of = [](std::string_view line) -> std::optional<std::pair<size_t, uint64_t>> {
    size_t lead = line.find_first_not_of(' ');
    if (lead == std::string_view::npos || lead == 0 || line[lead] != '[') return std::nullopt;
    size_t close = line.find(']', lead);
    if (close == std::string_view::npos) return std::nullopt;
    uint64_t off = 0;
    auto [p, ec] = std::from_chars(line.data() + lead + 1, line.data() + close, off);
    if (ec != std::errc() || p != line.data() + close) return std::nullopt;
    return std::make_pair(close, off);
  };
  size_t old_width = 0;  // the offset column the type printer used
  for (auto line : lines)
    if (auto o = offset_of(line)) {
      old_width = o->first + 1;
      break;
    }
  std::string out;
  for (auto line : lines) {
    size_t lead = line.find_first_not_of(' ');
    if (line.substr(0, 6) == "SIZE: ") {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(line.data() + 6, line.data() + line.size(), n);
      out += ec == std::errc() ? "SIZE: " + number(n) : std::string(line);
    } else if (auto o = offset_of(line)) {
      if (base) out += fmt::format("  [{:x}] ", *base + o->second);
      else out += fmt::format("{:>{}} ", fmt::format("[{}]", number(o->second)), width);
      out += line.substr(std::min(line.size(), o->first + 2));
    } else if (old_width && lead != std::string_view::npos && lead >= old_width + 1) {
      // A line without an offset (an anonymous union's braces): the blank column re-sized.
      out += std::string(width + 1, ' ');
      out += line.substr(old_width + 1);
    } else {
      out += line;
    }
    out += '\n';
  }
  return out;
}

}  // namespace coroner::commands
