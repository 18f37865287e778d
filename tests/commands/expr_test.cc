// The expression parser and evaluator of commands/support/expr.h on synthesized BTF and fake
// memory: precedence, casts, members, subscripts, & and *, bit fields, sizeof, C's integer
// rules, and gdb's error texts.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "commands/support/expr.h"
#include "symbols/btf_types.h"

using namespace coroner;
using namespace coroner::commands;

namespace {

// struct list_head { struct list_head *next, *prev; };
// struct task { int pid; unsigned int flag:1, state:3; char comm[8]; struct list_head tasks; };
// typedef unsigned long long u64;  enum mode { OFF, ON = 5 };
std::vector<uint8_t> make_btf() {
  struct btf* b = btf__new_empty();
  int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  btf__add_int(b, "long int", 8, BTF_INT_SIGNED);
  int u64 = btf__add_int(b, "long long unsigned int", 8, 0);
  int ch = btf__add_int(b, "char", 1, BTF_INT_SIGNED | BTF_INT_CHAR);
  btf__add_int(b, "long unsigned int", 8, 0);
  int lhp = btf__add_ptr(b, static_cast<int>(btf__type_cnt(b)) + 1);  // to the struct added next
  btf__add_struct(b, "list_head", 16);
  btf__add_field(b, "next", lhp, 0, 0);
  btf__add_field(b, "prev", lhp, 64, 0);
  int comm = btf__add_array(b, i32, ch, 8);
  btf__add_struct(b, "task", 32);
  btf__add_field(b, "pid", i32, 0, 0);
  btf__add_field(b, "flag", u32, 32, 1);
  btf__add_field(b, "state", u32, 33, 3);
  btf__add_field(b, "comm", comm, 64, 0);
  btf__add_field(b, "tasks", lhp + 1, 128, 0);
  btf__add_typedef(b, "u64", u64);
  btf__add_enum(b, "mode", 4);
  btf__add_enum_value(b, "OFF", 0);
  btf__add_enum_value(b, "ON", 5);
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  std::vector<uint8_t> out(static_cast<const uint8_t*>(raw), static_cast<const uint8_t*>(raw) + size);
  btf__free(b);
  return out;
}

constexpr uint64_t kTask = 0xffffffff81000000;

class FakeEnv final : public expr::Env {
 public:
  explicit FakeEnv(symbols::Types& t) : t_(t) {
    // task: pid 42, flag 1, state 5, comm "init", tasks.next -> itself, prev 0.
    mem_.assign(32, 0);
    mem_[0] = 42;
    mem_[4] = 1 | (5 << 1);
    std::memcpy(&mem_[8], "init", 4);
    uint64_t self = kTask + 16;
    std::memcpy(&mem_[16], &self, 8);
  }
  symbols::Types& types() override { return t_; }
  Result<std::pair<uint64_t, symbols::TypeRef>> variable(std::string_view name) override {
    if (name == "the_task") return std::make_pair(kTask, *t_.find("struct task"));
    return Error::make(Errc::not_found, "no {}", name);
  }
  // A function, and one without DWARF (gdb's words for it).
  std::optional<std::pair<uint64_t, std::string>> function(std::string_view name) override {
    if (name == "do_work") return std::make_pair(kTask + 0x100, std::string("long (int, const char *)"));
    if (name == "entry_asm") return std::make_pair(kTask + 0x200, std::string("<text variable, no debug info>"));
    return std::nullopt;
  }
  // DWARF's declaration keeps qualifiers BTF's type for the variable lost.
  std::optional<std::string> address_type(std::string_view variable) override {
    if (variable == "the_task") return std::string("volatile struct task *");
    return std::nullopt;
  }
  Result<void> read(uint64_t addr, std::span<uint8_t> out) override {
    if (addr < kTask || addr + out.size() > kTask + mem_.size()) return Error::fault(addr, fmt::format("cannot read {:#x}", addr));
    std::memcpy(out.data(), &mem_[addr - kTask], out.size());
    return ok();
  }

 private:
  symbols::Types& t_;
  std::vector<uint8_t> mem_;
};

class NoSymbols final : public symbols::ValueContext {
 public:
  std::optional<std::string> symbolize(uint64_t addr) override {
    if (addr >= kTask && addr < kTask + 32) return addr == kTask ? std::string("the_task") : fmt::format("the_task+{}", addr - kTask);
    if (addr == kTask + 0x100) return std::string("do_work");
    if (addr == kTask + 0x200) return std::string("entry_asm");
    return std::nullopt;
  }
  std::optional<std::string> read_string(uint64_t, size_t) override { return std::nullopt; }
  int radix() const override { return radix_; }
  int radix_ = 10;
};

class ExprTest : public ::testing::Test {
 protected:
  void SetUp() override {
    raw_ = make_btf();
    auto t = symbols::BtfTypes::from_bytes(raw_, "test.btf");
    ASSERT_TRUE(t) << t.error().message;
    types_ = std::move(*t);
    env_ = std::make_unique<FakeEnv>(*types_);
  }
  expr::TypeNameTest is_type = [](std::string_view n) { return n == "u64"; };

  std::string parsed(std::string_view text) {
    auto n = expr::parse(text, is_type);
    return n ? expr::to_string(**n) : "error: " + n.error().message;
  }
  std::string eval(std::string_view text, int radix = 10) {
    auto n = expr::parse(text, is_type);
    if (!n) return "error: " + n.error().message;
    auto v = expr::evaluate(**n, *env_);
    if (!v) return "error: " + v.error().message;
    NoSymbols ctx;
    ctx.radix_ = radix;
    auto s = expr::format(*v, *env_, ctx);
    return s ? *s : "error: " + s.error().message;
  }

  std::vector<uint8_t> raw_;
  std::unique_ptr<symbols::BtfTypes> types_;
  std::unique_ptr<FakeEnv> env_;
};

}  // namespace

TEST_F(ExprTest, ParsesWithCPrecedence) {
  EXPECT_EQ(parsed("1+2*3"), "(1 + (2 * 3))");
  EXPECT_EQ(parsed("(1<<12)-1"), "((1 << 12) - 1)");
  EXPECT_EQ(parsed("a || b && c | d ^ e & f == g < h << i + j * k"),
            "(a || (b && (c | (d ^ (e & (f == (g < (h << (i + (j * k))))))))))");
  EXPECT_EQ(parsed("&init_task.tasks"), "(&(init_task).tasks)");
  EXPECT_EQ(parsed("*(struct list_head *)&x.y[2]->z"), "(*((struct list_head *)(&(((x).y)[2])->z)))");
  EXPECT_EQ(parsed("sizeof(struct task_struct)"), "sizeof(struct task_struct)");
  EXPECT_EQ(parsed("sizeof x.y"), "sizeof((x).y)");
  EXPECT_EQ(parsed("(unsigned long)x"), "((long unsigned int)x)");
  EXPECT_EQ(parsed("(u64)x"), "((u64)x)");
  EXPECT_EQ(parsed("(x)"), "x");
  EXPECT_EQ(parsed("-~!x"), "(-(~(!x)))");
  EXPECT_EQ(parsed("sizeof(int[10])"), "sizeof(int[10])");
}

TEST_F(ExprTest, SyntaxErrorsNameTheRest) {
  EXPECT_EQ(parsed("1 +"), "error: A syntax error in expression, near `'.");
  EXPECT_EQ(parsed("a.b[1"), "error: A syntax error in expression, near `'.");
  EXPECT_EQ(parsed("a ) b"), "error: A syntax error in expression, near `) b'.");
  EXPECT_EQ(parsed("0x"), "error: Invalid number \"0x\".");
  EXPECT_EQ(parsed("09"), "error: Invalid number \"09\".");
  EXPECT_EQ(parsed("99999999999999999999"), "error: Numeric constant too large.");
  EXPECT_EQ(parsed("a # b"), "error: Invalid character '#' in expression.");
  EXPECT_EQ(parsed(""), "error: A syntax error in expression, near `'.");
}

TEST_F(ExprTest, DeepNestingIsRefused) {
  std::string deep(1000, '(');
  EXPECT_NE(parsed(deep + "1" + std::string(1000, ')')).find("error"), std::string::npos);
  std::string negs(1000, '-');
  EXPECT_NE(parsed(negs + "1").find("error"), std::string::npos);
}

TEST_F(ExprTest, IntegerArithmeticFollowsC) {
  EXPECT_EQ(eval("1+2*3"), "7");
  EXPECT_EQ(eval("(1<<12)-1"), "4095");
  EXPECT_EQ(eval("10/3"), "3");
  EXPECT_EQ(eval("10%3"), "1");
  EXPECT_EQ(eval("2147483647+1"), "-2147483648");
  EXPECT_EQ(eval("0x7fffffffffffffff+1"), "-9223372036854775808");
  EXPECT_EQ(eval("0xffffffffffffffff"), "18446744073709551615");
  EXPECT_EQ(eval("4294967296"), "4294967296");
  EXPECT_EQ(eval("0x80000000"), "2147483648");
  EXPECT_EQ(eval("0777"), "511");
  EXPECT_EQ(eval("'a' + 1"), "98");
  EXPECT_EQ(eval("'A'"), "65 'A'");
  EXPECT_EQ(eval("(char)65"), "65 'A'");
  EXPECT_EQ(eval("(unsigned char)300"), "44 ','");
  EXPECT_EQ(eval("(unsigned int)-1"), "4294967295");
  EXPECT_EQ(eval("~0"), "-1");
  EXPECT_EQ(eval("!0"), "1");
  EXPECT_EQ(eval("1 == 1"), "1");
  EXPECT_EQ(eval("-7 / 2"), "-3");
  EXPECT_EQ(eval("1/0"), "error: Division by zero");
  EXPECT_EQ(eval("255", 16), "0xff");
  EXPECT_EQ(eval("ON"), "5");
}

TEST_F(ExprTest, MembersSubscriptsAndBitFields) {
  EXPECT_EQ(eval("the_task.pid"), "42");
  EXPECT_EQ(eval("the_task.pid + 1"), "43");
  EXPECT_EQ(eval("the_task.flag"), "1");
  EXPECT_EQ(eval("the_task.state"), "5");
  EXPECT_EQ(eval("the_task.state", 16), "0x5");
  EXPECT_EQ(eval("the_task.comm[1]"), "110 'n'");
  EXPECT_EQ(eval("*the_task.comm"), "105 'i'");
  EXPECT_EQ(eval("the_task.nosuch"), "error: There is no member named nosuch.");
  EXPECT_EQ(eval("the_task.pid.x"), "error: Attempt to extract a component of a value that is not a structure.");
  EXPECT_EQ(eval("nosuch"), "error: No symbol \"nosuch\" in current context.");
  EXPECT_EQ(eval("&the_task.flag"), "error: Attempt to take address of value not located in memory.");
}

TEST_F(ExprTest, PointersAddressesAndCasts) {
  EXPECT_EQ(eval("&the_task"), "(volatile struct task *) 0xffffffff81000000 <the_task>");
  EXPECT_EQ(eval("&the_task.tasks"), "(struct list_head *) 0xffffffff81000010 <the_task+16>");
  EXPECT_EQ(eval("&the_task.tasks", 16), "(struct list_head *) 0xffffffff81000010 <the_task+16>");
  EXPECT_EQ(eval("the_task.tasks.next"), "(struct list_head *) 0xffffffff81000010 <the_task+16>");
  EXPECT_EQ(eval("the_task.tasks.next->next->prev"), "(struct list_head *) 0x0");
  EXPECT_EQ(eval("&the_task.comm"), "(char (*)[8]) 0xffffffff81000008 <the_task+8>");
  EXPECT_EQ(eval("&the_task.tasks.next"), "(struct list_head **) 0xffffffff81000010 <the_task+16>");
  EXPECT_EQ(eval("(struct list_head *)&the_task.tasks"), "(struct list_head *) 0xffffffff81000010 <the_task+16>");
  EXPECT_EQ(eval("*(struct list_head *)&the_task.tasks"), "{\n  next = 0xffffffff81000010 <the_task+16>,\n  prev = 0x0\n}");
  EXPECT_EQ(eval("&((struct task *)0)->tasks"), "(struct list_head *) 0x10");
  EXPECT_EQ(eval("&the_task + 1"), "(volatile struct task *) 0xffffffff81000020");
  EXPECT_EQ(eval("&the_task.tasks - &the_task.tasks"), "0");
  EXPECT_EQ(eval("(u64)&the_task"), "18446744071578845184");
  EXPECT_EQ(eval("(void *)&the_task"), "(void *) 0xffffffff81000000 <the_task>");
  EXPECT_EQ(eval("*(struct list_head *)0"), "error: cannot read 0x0");
  EXPECT_EQ(eval("(struct nosuch *)0"), "error: No struct type named nosuch.");
  EXPECT_EQ(eval("*the_task.pid"), "error: Attempt to take contents of a non-pointer value.");
}

TEST_F(ExprTest, Sizeof) {
  EXPECT_EQ(eval("sizeof(struct task)"), "32");
  EXPECT_EQ(eval("sizeof the_task"), "32");
  EXPECT_EQ(eval("sizeof(the_task.tasks)"), "16");
  EXPECT_EQ(eval("sizeof(long)"), "8");
  EXPECT_EQ(eval("sizeof(struct list_head *)"), "8");
  EXPECT_EQ(eval("sizeof(struct task)", 16), "0x20");
}

TEST_F(ExprTest, FunctionsPrintAsGdb) {
  EXPECT_EQ(eval("do_work"), "{long (int, const char *)} 0xffffffff81000100 <do_work>");
  EXPECT_EQ(eval("*do_work"), "{long (int, const char *)} 0xffffffff81000100 <do_work>");
  EXPECT_EQ(eval("&do_work"), "(long (*)(int, const char *)) 0xffffffff81000100 <do_work>");
  EXPECT_EQ(eval("*&do_work"), "{long (int, const char *)} 0xffffffff81000100 <do_work>");
  EXPECT_EQ(eval("(unsigned long)do_work"), "18446744071578845440");
  EXPECT_EQ(eval("sizeof do_work"), "1");
  EXPECT_EQ(eval("entry_asm"), "{<text variable, no debug info>} 0xffffffff81000200 <entry_asm>");
  EXPECT_EQ(eval("&entry_asm"), "(<text variable, no debug info> *) 0xffffffff81000200 <entry_asm>");
  EXPECT_EQ(eval("do_work.x"), "error: Attempt to extract a component of a value that is not a structure.");
}

TEST_F(ExprTest, AddressOfAVariableKeepsItsQualifiers) {
  EXPECT_EQ(eval("&the_task"), "(volatile struct task *) 0xffffffff81000000 <the_task>");
  // Only &VAR itself: a member's address has BTF's type.
  EXPECT_EQ(eval("&the_task.pid"), "(int *) 0xffffffff81000000 <the_task>");
  EXPECT_EQ(eval("*&the_task.pid"), "42");
  EXPECT_EQ(eval("(*&the_task).pid"), "42");
}
