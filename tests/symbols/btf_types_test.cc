// BtfTypes on BTF synthesized with libbpf's writer: nested and anonymous members, arrays,
// bit fields, typedefs, enums, and the errors for unknown names.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <clocale>
#include <cstring>

#include "symbols/btf_types.h"

using namespace coroner;
using namespace coroner::symbols;

namespace {

// The encoded BTF of `b`, which it frees.
std::vector<uint8_t> finish(struct btf* b) {
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  std::vector<uint8_t> out(static_cast<const uint8_t*>(raw), static_cast<const uint8_t*>(raw) + size);
  btf__free(b);
  return out;
}

// struct inner { int a; unsigned int flags:5, level:3; };
// struct outer { long x; struct inner in; union { int u1; long u2; }; struct inner arr[4]; };
// typedef struct outer outer_t;  enum color { RED = 1, BLUE = 7 };
std::vector<uint8_t> make_btf() {
  struct btf* b = btf__new_empty();
  int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int u32 = btf__add_int(b, "unsigned int", 4, 0);
  int i64 = btf__add_int(b, "long", 8, BTF_INT_SIGNED);
  int inner = btf__add_struct(b, "inner", 8);
  btf__add_field(b, "a", i32, 0, 0);
  btf__add_field(b, "flags", u32, 32, 5);
  btf__add_field(b, "level", u32, 37, 3);
  int anon = btf__add_union(b, nullptr, 8);
  btf__add_field(b, "u1", i32, 0, 0);
  btf__add_field(b, "u2", i64, 0, 0);
  int arr = btf__add_array(b, i32, inner, 4);
  int outer = btf__add_struct(b, "outer", 8 + 8 + 8 + 32);
  btf__add_field(b, "x", i64, 0, 0);
  btf__add_field(b, "in", inner, 64, 0);
  btf__add_field(b, nullptr, anon, 128, 0);
  btf__add_field(b, "arr", arr, 192, 0);
  btf__add_typedef(b, "outer_t", outer);
  btf__add_enum(b, "color", 4);
  btf__add_enum_value(b, "RED", 1);
  btf__add_enum_value(b, "BLUE", 7);
  return finish(b);
}

// Types read from synthesized BTF, which they point into.
class BtfFixture : public ::testing::Test {
 protected:
  void load(std::vector<uint8_t> raw, const char* name) {
    raw_ = std::move(raw);
    auto t = BtfTypes::from_bytes(raw_, name);
    ASSERT_TRUE(t) << t.error().message;
    types_ = std::move(*t);
  }
  std::vector<uint8_t> raw_;
  std::unique_ptr<BtfTypes> types_;
};

class BtfTypesTest : public BtfFixture {
 protected:
  void SetUp() override { load(make_btf(), "test.btf"); }
};

}  // namespace

TEST_F(BtfTypesTest, NestedMembersAndSizes) {
  EXPECT_EQ(*types_->offset_of("outer", "x"), 0u);
  EXPECT_EQ(*types_->offset_of("outer", "in.a"), 8u);
  EXPECT_EQ(*types_->size_of_name("outer"), 56u);
  EXPECT_EQ(*types_->size_of_name("struct inner"), 8u);
  EXPECT_EQ(*types_->size_of_name("outer_t"), 56u);
}

TEST_F(BtfTypesTest, AnonymousUnionMembersAreLookedThrough) {
  EXPECT_EQ(*types_->offset_of("outer", "u1"), 16u);
  EXPECT_EQ(*types_->offset_of("outer", "u2"), 16u);
}

TEST_F(BtfTypesTest, ArraySubscripts) {
  EXPECT_EQ(*types_->offset_of("outer", "arr[0]"), 24u);
  EXPECT_EQ(*types_->offset_of("outer", "arr[3].a"), 24u + 3 * 8);
  auto t = types_->find("outer");
  ASSERT_TRUE(t);
  auto m = types_->member(*t, "arr");
  ASSERT_TRUE(m);
  auto a = types_->array(m->type);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->second, 4u);
  EXPECT_FALSE(types_->offset_of("outer", "x[1]"));
  EXPECT_FALSE(types_->offset_of("outer", "arr[1"));
}

TEST_F(BtfTypesTest, BitFields) {
  auto t = types_->find("inner");
  ASSERT_TRUE(t);
  auto flags = types_->member(*t, "flags");
  ASSERT_TRUE(flags);
  EXPECT_EQ(flags->bit_offset, 32u);
  EXPECT_EQ(flags->bit_size, 5u);
  auto level = types_->member(*t, "level");
  ASSERT_TRUE(level);
  EXPECT_EQ(level->bit_offset, 37u);
  EXPECT_EQ(level->bit_size, 3u);
}

TEST_F(BtfTypesTest, EnumeratorsAndNames) {
  EXPECT_EQ(types_->enumerator("BLUE").value_or(-1), 7);
  EXPECT_FALSE(types_->enumerator("GREEN"));
  auto t = types_->find("color");
  ASSERT_TRUE(t);
  EXPECT_EQ(types_->name(*t), "enum color");
  EXPECT_EQ(types_->kind(*t), TypeKind::enumeration);
}

TEST_F(BtfTypesTest, UnknownNamesAreClearErrors) {
  auto r = types_->offset_of("outer", "nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::no_debug_info);
  EXPECT_EQ(r.error().message, "struct outer has no member \"nope\"");
  auto t = types_->find("struct missing");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, "no type named \"missing\" in test.btf");
}

TEST(BtfTypes, GarbageIsRejected) {
  std::vector<uint8_t> junk(64, 0xab);
  auto t = BtfTypes::from_bytes(junk, "junk.btf");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::bad_data);
  EXPECT_NE(t.error().message.find("junk.btf: invalid BTF data"), std::string::npos);
}

namespace {
// struct decls { struct cb *next; void (*func)(struct cb *, int); const struct cb *c;
//                char * const p; enum { A, B = 5 } e : 4; unsigned char marker[0]; long tail[]; };
std::vector<uint8_t> make_decl_btf() {
  struct btf* b = btf__new_empty();
  int chr = btf__add_int(b, "char", 1, BTF_INT_SIGNED);
  int uchr = btf__add_int(b, "unsigned char", 1, 0);
  int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int lng = btf__add_int(b, "long int", 8, BTF_INT_SIGNED);
  int cb = btf__add_struct(b, "cb", 48);
  int cbp = btf__add_ptr(b, cb);
  int proto = btf__add_func_proto(b, 0);
  btf__add_func_param(b, nullptr, cbp);
  btf__add_func_param(b, nullptr, i32);
  int fptr = btf__add_ptr(b, proto);
  int ccb = btf__add_const(b, cb);
  int ccbp = btf__add_ptr(b, ccb);
  int charp = btf__add_ptr(b, chr);
  int constcharp = btf__add_const(b, charp);
  int anon_enum = btf__add_enum(b, nullptr, 4);
  btf__add_enum_value(b, "A", 0);
  btf__add_enum_value(b, "B", 5);
  int zero = btf__add_array(b, i32, uchr, 0);
  int flex = btf__add_array(b, i32, lng, 0);
  (void)cb;  // only pointed to: its members do not matter here
  int decls = btf__add_struct(b, "decls", 48);
  btf__add_field(b, "next", cbp, 0, 0);
  btf__add_field(b, "func", fptr, 64, 0);
  btf__add_field(b, "c", ccbp, 128, 0);
  btf__add_field(b, "p", constcharp, 192, 0);
  btf__add_field(b, "e", anon_enum, 256, 4);
  btf__add_field(b, "marker", zero, 288, 0);
  btf__add_field(b, "tail", flex, 320, 0);
  (void)decls;
  return finish(b);
}
}  // namespace

TEST(BtfTypes, DefinitionsUseGdbDeclarators) {
  auto raw = make_decl_btf();
  auto t = BtfTypes::from_bytes(raw, "decl.btf");
  ASSERT_TRUE(t) << t.error().message;
  auto ref = (*t)->find("decls");
  ASSERT_TRUE(ref);
  auto def = (*t)->definition(*ref, false, {});
  ASSERT_TRUE(def) << def.error().message;
  EXPECT_EQ(*def,
            "struct decls {\n"
            "    struct cb *next;\n"
            "    void (*func)(struct cb *, int);\n"
            "    const struct cb *c;\n"
            "    char * const p;\n"
            "    enum {A, B = 5} e : 4;\n"
            "    unsigned char marker[0];\n"
            "    long tail[];\n"
            "}\n"
            "SIZE: 48\n");
  auto off = (*t)->definition(*ref, true, {"func"});
  ASSERT_TRUE(off);
  EXPECT_EQ(*off, "struct decls {\n   [8] void (*func)(struct cb *, int);\n}\n");
}

namespace {
// Names every pointer into [0x1000, 0x2000) as "obj+off", strings from a small table.
class FakeContext final : public ValueContext {
 public:
  std::optional<std::string> symbolize(uint64_t a) override {
    if (a < 0x1000 || a >= 0x2000) return std::nullopt;
    return a == 0x1000 ? std::string("obj") : "obj+" + std::to_string(a - 0x1000);
  }
  std::optional<std::string> read_string(uint64_t a, size_t) override {
    if (a == 0x9000) return std::string("hi\n");
    return std::nullopt;
  }
};

// struct v { struct v *self; void *raw; char *name; u8 small; bool ok; enum {X, Y} e;
//            char tag[4]; struct pair { int a; int b; } pairs[2]; struct empty {} none; int tail[]; };
std::vector<uint8_t> make_value_btf() {
  struct btf* b = btf__new_empty();
  int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int u8 = btf__add_int(b, "unsigned char", 1, 0);
  int chr = btf__add_int(b, "char", 1, BTF_INT_SIGNED | BTF_INT_CHAR);
  int boolean = btf__add_int(b, "_Bool", 1, BTF_INT_BOOL);
  int v = btf__add_struct(b, "v", 72);
  int vp = btf__add_ptr(b, v);
  int voidp = btf__add_ptr(b, 0);
  int charp = btf__add_ptr(b, chr);
  int e = btf__add_enum(b, nullptr, 4);
  btf__add_enum_value(b, "X", 0);
  btf__add_enum_value(b, "Y", 1);
  int tag = btf__add_array(b, i32, chr, 4);
  int pair = btf__add_struct(b, "pair", 8);
  btf__add_field(b, "a", i32, 0, 0);
  btf__add_field(b, "b", i32, 32, 0);
  int pairs = btf__add_array(b, i32, pair, 2);
  int empty = btf__add_struct(b, "empty", 0);
  int tail = btf__add_array(b, i32, i32, 0);
  (void)v;
  btf__add_struct(b, "vals", 72);
  btf__add_field(b, "self", vp, 0, 0);
  btf__add_field(b, "raw", voidp, 64, 0);
  btf__add_field(b, "name", charp, 128, 0);
  btf__add_field(b, "small", u8, 192, 0);
  btf__add_field(b, "ok", boolean, 200, 0);
  btf__add_field(b, "e", e, 224, 0);
  btf__add_field(b, "tag", tag, 256, 0);
  btf__add_field(b, "pairs", pairs, 288, 0);
  btf__add_field(b, "none", empty, 416, 0);
  btf__add_field(b, "tail", tail, 448, 0);
  return finish(b);
}

template <typename T>
void put(std::vector<uint8_t>& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}

// The value printer's set-up: make_value_btf()'s types, struct vals, and a zeroed value of it
// (its 72 bytes) that each test fills in.
class BtfValues : public BtfFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(load(make_value_btf(), "vals.btf"));
    auto ref = types_->find("vals");
    ASSERT_TRUE(ref);
    vals_ = *ref;
  }
  TypeRef vals_{};
  std::vector<uint8_t> bytes_ = std::vector<uint8_t>(72, 0);
  FakeContext ctx_;
};
}  // namespace

TEST_F(BtfValues, ValuesPrintInGdbsLayout) {
  put<uint64_t>(bytes_, 0, 0x1008);    // self -> obj+8
  put<uint64_t>(bytes_, 8, 0x1000);    // raw: a void * is named as gdb names it too
  put<uint64_t>(bytes_, 16, 0x9000);   // name -> "hi\n"
  bytes_[24] = 2;                      // small
  bytes_[25] = 1;                      // ok
  put<uint32_t>(bytes_, 28, 1);        // e = Y
  std::memcpy(bytes_.data() + 32, "ab\0", 4);
  put<int32_t>(bytes_, 36, -1);
  put<int32_t>(bytes_, 40, 7);
  auto text = types_->format_value(vals_, bytes_, ctx_, 0, 0x1000);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text,
            "{\n"
            "  self = 0x1008 <obj+8>,\n"
            "  raw = 0x1000 <obj>,\n"
            "  name = 0x9000 \"hi\\n\",\n"
            "  small = 2 '\\002',\n"
            "  ok = true,\n"
            "  e = Y,\n"
            "  tag = \"ab\\000\",\n"
            "  pairs = {{\n"
            "      a = -1,\n"
            "      b = 7\n"
            "    }, {\n"
            "      a = 0,\n"
            "      b = 0\n"
            "    }},\n"
            "  none = {<No data fields>},\n"
            "  tail = 0x1038 <obj+56>\n"
            "}");
  auto short_bytes = types_->format_value(vals_, std::span(bytes_).first(10), ctx_);
  EXPECT_FALSE(short_bytes);
}

// gdb under a UTF-8 locale: the bytes of a character cut off at the end of a string follow the
// closing quote, and the character converted just before them is lost (crash 9 on 6.12's
// freed init text: bytes d5 6b c8 00 print as `"\325", <incomplete sequence \310>`).
TEST_F(BtfValues, IncompleteMultibyteSequenceFollowsTheString) {
  std::string before = std::setlocale(LC_CTYPE, nullptr);
  if (!std::setlocale(LC_CTYPE, "C.UTF-8")) GTEST_SKIP() << "no C.UTF-8 locale";
  const uint8_t tag[4] = {0xd5, 'k', 0xc8, 0};
  std::memcpy(bytes_.data() + 32, tag, 4);
  auto text = types_->format_value(vals_, bytes_, ctx_, 0, 0x1000);
  std::setlocale(LC_CTYPE, before.c_str());
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_NE(text->find("  tag = \"\\325\", <incomplete sequence \\310>,\n"), std::string::npos) << *text;
}
