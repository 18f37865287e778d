// p/eval's C expressions (commands/support/expr.h): the parser on arbitrary text, then the
// evaluator and gdb-style printer over synthesized BTF types and fake memory. The input is
// "EXPRESSION\0MEMORY": the text up to the first NUL is parsed; the bytes after it are the
// kernel memory at kBase, where the variables live (any other address faults). Any input must
// give a value or an error, never a crash, a hang, an exception or a huge allocation.
#include <bpf/btf.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands/support/expr.h"
#include "symbols/btf_types.h"

namespace {

using namespace coroner;
namespace expr = coroner::commands::expr;

constexpr uint64_t kBase = 0xffffffff81000000ull;

// The types the variables below have, close to the kernel's shapes: a list_head, a struct
// with bit fields, a char array, a char pointer, a nested anonymous union and a function
// pointer; typedefs, an enum, arrays small and large, and a function.
std::vector<uint8_t> make_btf() {
  struct btf* b = btf__new_empty();
  int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  int i64 = btf__add_int(b, "long int", 8, BTF_INT_SIGNED);
  int u64 = btf__add_int(b, "long unsigned int", 8, 0);
  int ull = btf__add_int(b, "long long unsigned int", 8, 0);
  int ch = btf__add_int(b, "char", 1, BTF_INT_SIGNED | BTF_INT_CHAR);
  btf__add_int(b, "unsigned char", 1, 0);
  btf__add_int(b, "signed char", 1, BTF_INT_SIGNED);
  int i16 = btf__add_int(b, "short int", 2, BTF_INT_SIGNED);
  btf__add_int(b, "short unsigned int", 2, 0);
  int boolean = btf__add_int(b, "_Bool", 1, BTF_INT_BOOL);
  int lhp = btf__add_ptr(b, static_cast<int>(btf__type_cnt(b)) + 1);  // to the struct added next
  int lh = btf__add_struct(b, "list_head", 16);
  btf__add_field(b, "next", lhp, 0, 0);
  btf__add_field(b, "prev", lhp, 64, 0);
  int chp = btf__add_ptr(b, ch);
  int voidp = btf__add_ptr(b, 0);
  int mode = btf__add_enum(b, "mode", 4);
  btf__add_enum_value(b, "OFF", 0);
  btf__add_enum_value(b, "ON", 5);
  btf__add_enum_value(b, "NEG", -3);
  int proto = btf__add_func_proto(b, i32);
  btf__add_func_param(b, "x", i32);
  int fn = btf__add_func(b, "handler", BTF_FUNC_GLOBAL, proto);
  int fnp = btf__add_ptr(b, proto);
  int comm = btf__add_array(b, i32, ch, 16);
  int anon = btf__add_union(b, nullptr, 8);
  btf__add_field(b, "word", u64, 0, 0);
  btf__add_field(b, "half", i16, 0, 0);
  int task = btf__add_struct(b, "task", 64);
  btf__add_field(b, "pid", i32, 0, 0);
  btf__add_field(b, "flag", u32, 32, 1);
  btf__add_field(b, "state", u32, 33, 3);
  btf__add_field(b, "neg", i32, 36, 5);
  btf__add_field(b, "comm", comm, 64, 0);
  btf__add_field(b, "tasks", lh, 192, 0);
  btf__add_field(b, "name", chp, 320, 0);
  btf__add_field(b, nullptr, anon, 384, 0);
  btf__add_field(b, "mode", mode, 448, 0);
  btf__add_field(b, "ok", boolean, 480, 0);
  int taskp = btf__add_ptr(b, task);
  btf__add_typedef(b, "u64", ull);
  btf__add_typedef(b, "s64", i64);
  btf__add_typedef(b, "task_t", task);
  int tasks = btf__add_array(b, i32, task, 4);
  int ptrs = btf__add_array(b, i32, taskp, 4);
  int big = btf__add_array(b, i32, u64, 1u << 16);
  int holder = btf__add_struct(b, "holder", 16);
  btf__add_field(b, "fn", fnp, 0, 0);
  btf__add_field(b, "any", voidp, 64, 0);
  (void)fn, (void)tasks, (void)ptrs, (void)big, (void)holder;
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  std::vector<uint8_t> out(static_cast<const uint8_t*>(raw), static_cast<const uint8_t*>(raw) + size);
  btf__free(b);
  return out;
}

symbols::BtfTypes& fuzz_types() {
  static std::vector<uint8_t> raw = make_btf();
  static std::unique_ptr<symbols::BtfTypes> t = std::move(*symbols::BtfTypes::from_bytes(raw, "fuzz.btf"));
  return *t;
}

class FakeEnv final : public expr::Env {
 public:
  explicit FakeEnv(std::span<const uint8_t> mem) : mem_(mem) {}
  symbols::Types& types() override { return fuzz_types(); }
  Result<std::pair<uint64_t, symbols::TypeRef>> variable(std::string_view name) override {
    // Every variable starts at kBase: the memory is read as whichever type is asked for.
    static const std::pair<std::string_view, std::string_view> kVars[] = {
        {"the_task", "struct task"}, {"tasks_arr", ""}, {"head", "struct list_head"}, {"holder", "struct holder"},
        {"counter", "u64"},          {"mode_var", "enum mode"}, {"handler", "handler"}, {"flag", "_Bool"}};
    for (auto& [n, type] : kVars) {
      if (n != name) continue;
      if (type.empty()) {
        // An array variable: BTF has no name for it, so the array type of struct task [4].
        auto task = TRY(types().find("struct task"));
        auto arr = types().array_of(task, 4);
        if (!arr) return Error::make(Errc::not_found, "no array type");
        return std::make_pair(kBase, *arr);
      }
      return std::make_pair(kBase, TRY(types().find(type)));
    }
    return Error::make(Errc::not_found, "No symbol \"{}\" in current context.", name);
  }
  Result<void> read(uint64_t addr, std::span<uint8_t> out) override {
    if (addr < kBase || addr - kBase > mem_.size() || out.size() > mem_.size() - (addr - kBase))
      return Error::fault(addr, fmt::format("Cannot access memory at address {:#x}", addr));
    if (!out.empty()) std::memcpy(out.data(), mem_.data() + (addr - kBase), out.size());
    return ok();
  }
  Result<expr::Value> history(uint64_t n) override {
    if (n > 2) return Error::make(Errc::usage, "History has not yet reached ${}.", n);
    expr::Value v;
    v.type.btf = TRY(types().find("struct task"));
    v.address = kBase + n * 8;
    return v;
  }

 private:
  std::span<const uint8_t> mem_;
};

class FakeContext final : public symbols::ValueContext {
 public:
  FakeContext(std::span<const uint8_t> mem, int radix) : mem_(mem), radix_(radix) {}
  std::optional<std::string> symbolize(uint64_t addr) override {
    if (addr < kBase || addr - kBase >= mem_.size()) return std::nullopt;
    return fmt::format("the_task+{}", addr - kBase);
  }
  std::optional<std::string> read_string(uint64_t addr, size_t max) override {
    if (addr < kBase || addr - kBase >= mem_.size()) return std::nullopt;
    std::string out;
    for (uint64_t i = addr - kBase; i < mem_.size() && out.size() < max && mem_[i]; ++i)
      out.push_back(static_cast<char>(mem_[i]));
    return out;
  }
  int radix() const override { return radix_; }

 private:
  std::span<const uint8_t> mem_;
  int radix_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t nul = all.find('\0');
  std::string_view text = all.substr(0, nul);
  std::span<const uint8_t> mem;
  if (nul != std::string_view::npos) mem = std::span(data + nul + 1, size - nul - 1);

  auto& T = fuzz_types();
  // p.cc's rule: a name is a type in a cast when it is a typedef or a base type.
  auto is_type_name = [&](std::string_view name) {
    auto t = T.find(name);
    if (!t) return false;
    auto kind = T.kind(*t);
    return kind == symbols::TypeKind::typedef_ || kind == symbols::TypeKind::integer;
  };
  auto tree = expr::parse(text, is_type_name);
  if (!tree) return 0;
  (void)expr::to_string(**tree);
  FakeEnv env(mem);
  auto v = expr::evaluate(**tree, env);
  if (!v) return 0;
  (void)expr::type_name(v->type, T);
  (void)expr::scalar(*v, env);
  for (int radix : {10, 16}) {
    FakeContext ctx(mem, radix);
    (void)expr::format(*v, env, ctx);
  }
  return 0;
}
