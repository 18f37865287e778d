// The kernel's symbol table: names, link-time addresses, nm-style type letters, and the
// KASLR relocation that turns link-time addresses into the running kernel's addresses.
//
//   table.set_relocation(kaslr_offset, text_start);
//   const Symbol* s = table.find("schedule");      uint64_t a = table.address(*s);
//   auto hit = table.lookup(addr);                 // {symbol, offset} for "name+off"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coroner::symbols {

struct Symbol {
  std::string_view name;  // points into the vmlinux string table (lives as long as the Vmlinux)
  uint64_t link_addr;
  uint64_t size;
  char type;              // nm-style: T t D d B b R r A W w V v ...
  bool relocatable;       // moves with KASLR (kernel image symbols; not per-CPU offsets, not absolutes)
  // The ELF section index (st_shndx) of a vmlinux symbol, kNoSection for symbols from
  // elsewhere (kallsyms, synthesized tables) and for absolute or common ones.
  uint32_t section = kNoSection;
  static constexpr uint32_t kNoSection = UINT32_MAX;
};

struct SymbolHit {
  const Symbol* symbol;
  uint64_t offset;
};

class SymbolTable {
 public:
  void add(Symbol s) { symbols_.push_back(s); }
  // Sorts by address and builds the name index; call once after the last add().
  void finish();

  // Relocation for KASLR: every relocatable symbol moves by `offset`.
  void set_relocation(uint64_t offset) { reloc_ = offset; }
  uint64_t relocation() const { return reloc_; }

  size_t size() const { return symbols_.size(); }
  const Symbol* find(std::string_view name) const;
  // Every symbol with this name (static functions repeat across files).
  std::vector<const Symbol*> find_all(std::string_view name) const;
  uint64_t address(const Symbol& s) const { return s.relocatable ? s.link_addr + reloc_ : s.link_addr; }
  std::optional<uint64_t> address_of(std::string_view name) const {
    const Symbol* s = find(name);
    return s ? std::optional<uint64_t>(address(*s)) : std::nullopt;
  }
  // The symbol containing or preceding a runtime address (text and data symbols only).
  std::optional<SymbolHit> lookup(uint64_t runtime_addr) const;
  const std::vector<Symbol>& all() const { return symbols_; }

  // Whether a symbol is per-CPU data: its link address lies in [__per_cpu_start,
  // __per_cpu_end), the rule crash applies (so __per_cpu_end itself is not). On x86_64 the
  // per-CPU section is linked at 0 and these symbols do not move with KASLR; on arm64 it is
  // part of the image. Absolute symbols never are.
  bool is_per_cpu(const Symbol& s) const {
    return per_cpu_end_ > per_cpu_start_ && s.type != 'A' && s.type != 'a' && s.link_addr >= per_cpu_start_ &&
           s.link_addr < per_cpu_end_;
  }

 private:
  std::vector<Symbol> symbols_;  // sorted by link_addr after finish()
  uint64_t per_cpu_start_ = 0, per_cpu_end_ = 0;  // link addresses, from finish()
  // The name index: open addressing with linear probing over a power-of-two number of slots
  // (at least 1.5 per symbol), each holding a name's hash (low 32 bits) and its symbol's index
  // + 1 (0: empty). Built with no allocation per symbol: at start-up a node-based multimap of
  // 150,000 vmlinux names cost a fifth of a session's CPU time in cache misses.
  struct NameSlot {
    uint32_t hash;
    uint32_t index_plus_1;
  };
  std::vector<NameSlot> by_name_;
  template <typename F>
  void for_each_named(std::string_view name, F&& f) const;
  uint64_t reloc_ = 0;
};

// The name crash shows for a symbol: the name cut at ".isra.", or else at ".part.", or else
// at ".llvm." -- crash looks for them in that order ("foo.part.0.isra.0" -> "foo.part.0",
// "foo.part.0.cold" -> "foo", "foo.constprop.0.isra.0" -> "foo.constprop.0"); ".cold" and
// ".constprop.N" alone stay. Checked against every clone name of the Debian 6.1 vmlinux in
// crash 9's `sym -l`.
inline std::string_view display_name(std::string_view name) {
  for (std::string_view s : {".isra.", ".part.", ".llvm."})
    if (size_t p = name.find(s); p != std::string_view::npos) return name.substr(0, p);
  return name;
}

}  // namespace coroner::symbols
