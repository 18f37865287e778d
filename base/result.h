// Result<T>: the error-as-value type used by every coroner library.
//
// Errors carry one code from a closed set plus the context a user needs to act on them
// (the file and offset, the address, the path and errno), already formatted into `message`.
// No exception crosses a library boundary; a failing command never ends a session.
//
//   Result<uint64_t> read_u64(...);
//   auto v = TRY(read_u64(...));          // propagate the error to the caller
//   if (auto r = read_u64(...); !r) fmt::print("{}\n", r.error().message);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace coroner {

enum class Errc {
  fault,          // an address that cannot be read (not mapped, not in the dump)
  os,             // a system call failed (path + errno in the message)
  bad_data,       // a file or kernel structure is malformed (file + offset, or address)
  no_debug_info,  // the vmlinux lacks what the operation needs (DWARF, a symbol, a type)
  unsupported,    // a format, version or architecture coroner does not handle
  out_of_bounds,  // a count or index beyond a limit we enforce
  not_found,      // a name (symbol, task, command) that does not exist
  mismatch,       // inputs that do not belong together (vmlinux vs dump)
  usage,          // a command or option used wrongly
};

const char* errc_name(Errc code);

struct Error {
  Errc code;
  std::string message;
  std::optional<uint64_t> address;  // set for faults

  template <typename... A>
  static Error make(Errc code, fmt::format_string<A...> f, A&&... a) {
    return Error{code, fmt::format(f, std::forward<A>(a)...), std::nullopt};
  }
  static Error fault(uint64_t addr, std::string why) {
    return Error{Errc::fault, std::move(why), addr};
  }
  // Prefix context ("vmcore: ") to a lower layer's message.
  Error context(std::string_view prefix) const& {
    return Error{code, fmt::format("{}{}", prefix, message), address};
  }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }
  T value_or(T fallback) const { return ok() ? std::get<0>(v_) : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

// What TRY yields for a Result<void>.
struct Unit {};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}
  bool ok() const { return !e_; }
  explicit operator bool() const { return ok(); }
  Unit operator*() const { return {}; }
  const Error& error() const { return *e_; }

 private:
  std::optional<Error> e_;
};

inline Result<void> ok() { return {}; }

}  // namespace coroner

// Evaluates a Result expression; on error returns the error from the enclosing function,
// otherwise yields the value. (GNU statement expression: GCC and Clang.) Each expansion
// gets its own variable name so nested TRY(TRY(...)) does not shadow.
#define CORONER_CONCAT_(a, b) a##b
#define CORONER_CONCAT(a, b) CORONER_CONCAT_(a, b)
#define CORONER_TRY_IMPL(var, ...)      \
  ({                                    \
    auto var = (__VA_ARGS__);           \
    if (!var) return var.error();       \
    std::move(*var);                    \
  })
#define TRY(...) CORONER_TRY_IMPL(CORONER_CONCAT(coroner_try_r_, __COUNTER__), __VA_ARGS__)
