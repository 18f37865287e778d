// Kernel type information behind one interface: struct/union layouts, member offsets
// (bit fields included), sizes, enums. BTF (the vmlinux's .BTF section) serves it today;
// a DWARF backend can serve the same calls.
//
//   auto types = TRY(BtfTypes::from_vmlinux(vm));
//   uint64_t off = TRY(types->offset_of("task_struct", "thread.sp"));
//   uint64_t sz  = TRY(types->size_of_name("task_struct"));
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.h"

namespace coroner::symbols {

struct TypeRef {
  uint32_t id = 0;
};

enum class TypeKind { unknown, integer, pointer, array, structure, union_, enumeration, function, typedef_, other };

struct MemberInfo {
  uint64_t bit_offset = 0;  // from the start of the outermost type the path began in
  uint32_t bit_size = 0;    // 0 unless a bit field
  TypeRef type;
  uint64_t offset() const { return bit_offset / 8; }
};

// What printing a value needs from outside the type layer: names for addresses and strings
// behind char pointers (a kernel layer provides them from the dump and the symbol table).
class ValueContext {
 public:
  virtual ~ValueContext() = default;
  virtual std::optional<std::string> symbolize(uint64_t addr) = 0;   // "init_task+2192"
  virtual std::optional<std::string> read_string(uint64_t addr, size_t max) = 0;
  // gdb's output radix for integers: 10, or 16 for crash's -x.
  virtual int radix() const { return 10; }
};

class Types {
 public:
  virtual ~Types() = default;
  // A type by C name: "task_struct" (struct/union/enum/typedef, searched in that order),
  // or qualified: "struct task_struct", "union thread_union", "enum pid_type".
  virtual Result<TypeRef> find(std::string_view name) = 0;
  virtual Result<uint64_t> size_of(TypeRef t) = 0;
  // A member by path: "thread.sp", "pids[1].node", anonymous unions/structs looked through.
  virtual Result<MemberInfo> member(TypeRef t, std::string_view path) = 0;
  // Typedefs and qualifiers removed.
  virtual TypeRef resolve(TypeRef t) = 0;
  virtual TypeKind kind(TypeRef t) = 0;
  virtual std::string name(TypeRef t) = 0;
  // For arrays: element type and count; for pointers: target.
  virtual std::optional<std::pair<TypeRef, uint64_t>> array(TypeRef t) = 0;
  virtual std::optional<int64_t> enumerator(std::string_view name) = 0;

  // C declarations as gdb (and so crash) prints them.
  // `declare(t, "next")` -> "struct list_head *next"; `declare(t, "")` -> the type's name.
  virtual std::string declare(TypeRef t, std::string_view name) = 0;
  // A struct/union/enum definition, crash's `struct`/`whatis` layout. With `offsets`, each
  // member line starts with its byte offset ("  [16] u16 text_len;"). `only` restricts the
  // top-level members to those names (`struct list_head.next`).
  virtual Result<std::string> definition(TypeRef t, bool offsets, const std::vector<std::string>& only) = 0;
  // A value of type t held in `bytes`, in gdb's pretty-print layout (crash's `struct T ADDR`):
  // "{\n  next = 0x0,\n  prev = 0x0\n}". `indent` is the nesting depth of the first line;
  // `address` is where `bytes` came from (zero-length arrays print as addresses).
  virtual Result<std::string> format_value(TypeRef t, std::span<const uint8_t> bytes, ValueContext& ctx, int indent = 0,
                                           uint64_t address = 0) = 0;

  // Derived types that exist in the type data: a pointer to t, an array of n t, a base
  // type by its exact name ("long unsigned int").
  virtual std::optional<TypeRef> pointer_to(TypeRef t) = 0;
  virtual std::optional<TypeRef> array_of(TypeRef t, uint64_t n) = 0;
  virtual std::optional<TypeRef> base_type(std::string_view name) = 0;

  // Cached conveniences used on hot paths.
  Result<uint64_t> offset_of(std::string_view type, std::string_view path);
  Result<uint64_t> size_of_name(std::string_view type);
  bool has_member(std::string_view type, std::string_view path) { return offset_of(type, path).ok(); }

 private:
  std::unordered_map<std::string, Result<uint64_t>> offset_cache_;
};

// gdb's usual C spelling of a DWARF or BTF base type name: "long unsigned int" is printed
// "unsigned long". Other names are returned as they are.
std::string c_spelling(std::string_view name);

// gdb's C escape of one character inside a literal quoted by `quote` (' or "): \n, \033,
// \' ..., printable ASCII as it is, other bytes as three octal digits.
std::string escape_char(uint8_t c, char quote);

}  // namespace coroner::symbols
