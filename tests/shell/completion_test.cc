// Completion of members after a `p` expression (shell/completion.h's expression_members) on
// synthesized BTF and a fake kernel whose memory cannot be read: the expression's type comes
// from evaluating it with reads answering zeros, through `.`, `->`, `&`, casts and subscripts.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include "shell/completion.h"
#include "symbols/btf_types.h"

using namespace coroner;
using V = std::vector<std::string>;

namespace {

// struct mm_struct { long unsigned int pgd; int map_count; };
// struct task { int pid; struct mm_struct *mm; union { int a; int b; }; struct task *parent;
//               struct mm_struct mms[2]; };
// typedef struct task task_t;
struct FakeKernel {
  FakeKernel() {
    struct btf* b = btf__new_empty();
    int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    int ulong = btf__add_int(b, "long unsigned int", 8, 0);
    int mm = btf__add_struct(b, "mm_struct", 16);
    btf__add_field(b, "pgd", ulong, 0, 0);
    btf__add_field(b, "map_count", i32, 64, 0);
    int mmp = btf__add_ptr(b, mm);
    int anon = btf__add_union(b, nullptr, 4);
    btf__add_field(b, "a", i32, 0, 0);
    btf__add_field(b, "b", i32, 0, 0);
    int taskp = btf__add_ptr(b, static_cast<int>(btf__type_cnt(b)) + 2);  // the struct after the array
    int mms = btf__add_array(b, i32, mm, 2);
    btf__add_struct(b, "task", 64);
    btf__add_field(b, "pid", i32, 0, 0);
    btf__add_field(b, "mm", mmp, 64, 0);
    btf__add_field(b, nullptr, anon, 128, 0);
    btf__add_field(b, "parent", taskp, 192, 0);
    btf__add_field(b, "mms", mms, 256, 0);
    btf__add_typedef(b, "task_t", taskp + 2);
    uint32_t size = 0;
    const void* raw = btf__raw_data(b, &size);
    bytes.assign(static_cast<const uint8_t*>(raw), static_cast<const uint8_t*>(raw) + size);
    btf__free(b);
    raw_btf = btf__new(bytes.data(), static_cast<uint32_t>(bytes.size()));
    types = std::move(*symbols::BtfTypes::from_bytes(bytes, "test"));
  }
  ~FakeKernel() { btf__free(raw_btf); }
  std::vector<uint8_t> bytes;
  struct btf* raw_btf = nullptr;
  std::unique_ptr<symbols::BtfTypes> types;
};

// One variable, `the_task`; no memory at all: any read is a fault, so completion must not read.
class NoMemoryEnv final : public commands::expr::Env {
 public:
  explicit NoMemoryEnv(symbols::Types& t) : t_(t) {}
  symbols::Types& types() override { return t_; }
  Result<std::pair<uint64_t, symbols::TypeRef>> variable(std::string_view name) override {
    if (name == "the_task") return std::make_pair(uint64_t{0xffffffff81000000}, *t_.find("struct task"));
    return Error::make(Errc::not_found, "No symbol \"{}\" in current context.", name);
  }
  Result<void> read(uint64_t addr, std::span<uint8_t>) override {
    ++reads;
    return Error::fault(addr, fmt::format("cannot read {:#x}", addr));
  }
  int reads = 0;

 private:
  symbols::Types& t_;
};

}  // namespace

TEST(ExpressionMembers, AfterDotAndArrow) {
  FakeKernel k;
  NoMemoryEnv env(*k.types);
  auto m = [&](std::string_view text) { return shell::expression_members(env, k.raw_btf, text, 100); };
  EXPECT_EQ(m("the_task."), (V{"pid", "mm", "a", "b", "parent", "mms"}));
  EXPECT_EQ(m("the_task.p"), (V{"pid", "parent"}));
  EXPECT_EQ(m("the_task.mm->"), (V{"pgd", "map_count"}));
  EXPECT_EQ(m("the_task.mm->pg"), (V{"pgd"}));
  EXPECT_EQ(m("the_task.mm."), (V{"pgd", "map_count"}));  // gdb looks through a pointer for `.` too
  EXPECT_EQ(m("the_task.parent->parent->mm->m"), (V{"map_count"}));
  EXPECT_EQ(m("(&the_task)->mm->m"), (V{"map_count"}));
  EXPECT_EQ(m("the_task.mms[1]."), (V{"pgd", "map_count"}));
  EXPECT_EQ(m("((struct task *)0xffff888000000000)->mm->"), (V{"pgd", "map_count"}));
  EXPECT_EQ(m("( the_task ) . m"), (V{"mm", "mms"}));
  EXPECT_EQ(env.reads, 0);
}

TEST(ExpressionMembers, NothingToOffer) {
  FakeKernel k;
  NoMemoryEnv env(*k.types);
  auto m = [&](std::string_view text) { return shell::expression_members(env, k.raw_btf, text, 100); };
  EXPECT_EQ(m("the_task"), V{});           // no `.` or `->` yet
  EXPECT_EQ(m("the_task.pid."), V{});      // an int has no members
  EXPECT_EQ(m("the_task.pid->"), V{});
  EXPECT_EQ(m("nosuch."), V{});            // no such variable
  EXPECT_EQ(m("the_task.nosuch."), V{});   // no such member
  EXPECT_EQ(m("the_task.)."), V{});        // syntax error
  EXPECT_EQ(m("."), V{});
  EXPECT_EQ(m("->"), V{});
  EXPECT_EQ(m("&&the_task."), V{});
  EXPECT_EQ(shell::expression_members(env, nullptr, "the_task.", 100), V{});  // no BTF
  EXPECT_EQ(shell::expression_members(env, k.raw_btf, "the_task.", 2), (V{"pid", "mm"}));
}
