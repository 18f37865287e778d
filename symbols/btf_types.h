// Types served from the kernel's BTF (vmlinux .BTF section, 4 MB on a 6.1 kernel),
// parsed by libbpf. Start-up cost is a few milliseconds, independent of DWARF size.
//
//   auto types = TRY(BtfTypes::from_vmlinux(vmlinux));
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "symbols/types.h"
#include "symbols/vmlinux.h"

struct btf;

namespace coroner::symbols {

class BtfTypes final : public Types {
 public:
  static Result<std::unique_ptr<BtfTypes>> from_vmlinux(const Vmlinux& vm);
  static Result<std::unique_ptr<BtfTypes>> from_bytes(std::span<const uint8_t> data, std::string_view source);
  // A kernel module object file's .BTF section: split BTF whose ids continue `base`'s (the
  // vmlinux's), so the module's own types (`struct virtio_blk`) and every vmlinux type
  // answer through it. `base` must outlive the result.
  static Result<std::unique_ptr<BtfTypes>> from_split_elf(const std::string& path, const BtfTypes& base);
  ~BtfTypes() override;

  Result<TypeRef> find(std::string_view name) override;
  Result<uint64_t> size_of(TypeRef t) override;
  Result<MemberInfo> member(TypeRef t, std::string_view path) override;
  TypeRef resolve(TypeRef t) override;
  TypeKind kind(TypeRef t) override;
  std::string name(TypeRef t) override;
  std::optional<std::pair<TypeRef, uint64_t>> array(TypeRef t) override;
  std::optional<int64_t> enumerator(std::string_view name) override;
  std::string declare(TypeRef t, std::string_view name) override;
  std::optional<TypeRef> pointer_to(TypeRef t) override;
  std::optional<TypeRef> array_of(TypeRef t, uint64_t n) override;
  std::optional<TypeRef> base_type(std::string_view name) override;
  Result<std::string> definition(TypeRef t, bool offsets, const std::vector<std::string>& only) override;
  Result<std::string> format_value(TypeRef t, std::span<const uint8_t> bytes, ValueContext& ctx, int indent = 0,
                                   uint64_t address = 0) override;
  // The enum type an enumerator belongs to (gdb prints `p SYSTEM_RUNNING` by name).
  std::optional<TypeRef> enumerator_type(std::string_view name) const;

 private:
  BtfTypes() = default;
  // Indexes a freshly opened BTF's names and enumerators.
  static Result<std::unique_ptr<BtfTypes>> indexed(std::unique_ptr<BtfTypes> t);
  std::string base_name(uint32_t id);
  std::string declarator(uint32_t id, std::string inner, int depth, bool flexible = false);
  void print_members(std::string& out, uint32_t id, uint64_t base_bits, int depth, int mode, int width,
                     const std::vector<std::string>* only, int show);
  void value(std::string& out, uint32_t id, std::span<const uint8_t> bytes, uint64_t bit_off, uint32_t bit_size,
             ValueContext& ctx, int indent, int depth, uint64_t base_addr);
  bool find_member(uint32_t type_id, std::string_view name, uint64_t& bit_off, uint32_t& bit_size, uint32_t& member_type, int depth);
  struct btf* btf_ = nullptr;
  std::string source_;
  std::unordered_multimap<std::string_view, uint32_t> by_name_;
  std::unordered_map<std::string_view, int64_t> enumerators_;
  std::unordered_map<std::string_view, uint32_t> enumerator_types_;
  std::unordered_map<uint32_t, uint32_t> pointers_;            // target -> PTR, built on first use
  std::unordered_map<uint64_t, uint32_t> arrays_;              // (elem << 32 | n) -> ARRAY
  bool derived_built_ = false;
  void build_derived();
};

}  // namespace coroner::symbols
