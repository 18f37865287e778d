#include "commands/support/parse.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace coroner::commands {

std::optional<uint64_t> parse_hex(std::string_view s) {
  if (s.substr(0, 2) == "0x" || s.substr(0, 2) == "0X") s.remove_prefix(2);
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<std::vector<int>> parse_cpu_ranges(std::string_view spec, int ncpus) {
  const std::string whole(spec);
  std::vector<int> out;
  do {
    std::string_view item = spec.substr(0, spec.find(','));
    spec.remove_prefix(std::min(spec.size(), item.size() + 1));
    size_t dash = item.find('-');
    std::string_view lo_s = item.substr(0, dash);
    std::string_view hi_s = dash == std::string_view::npos ? lo_s : item.substr(dash + 1);
    int lo = -1, hi = -1;
    auto r1 = std::from_chars(lo_s.data(), lo_s.data() + lo_s.size(), lo);
    auto r2 = std::from_chars(hi_s.data(), hi_s.data() + hi_s.size(), hi);
    if (lo_s.empty() || hi_s.empty() || r1.ec != std::errc() || r2.ec != std::errc() ||
        r1.ptr != lo_s.data() + lo_s.size() || r2.ptr != hi_s.data() + hi_s.size() || lo < 0 || hi < lo || hi >= ncpus)
      return Error::make(Errc::usage, "invalid cpu specification: {}", whole);
    for (int c = lo; c <= hi; ++c) out.push_back(c);
  } while (!spec.empty());
  return out;
}

}  // namespace coroner::commands
