// crash's rewrite of gdb's ptype text (commands/support/type_layout.h): the -o column sized
// from SIZE in the output radix, member addresses for `struct -o NAME ADDR`, SIZE in hex.
// Expected texts are crash 9.0.2's on the 6.1 fixture kernel.
#include <gtest/gtest.h>

#include "commands/support/type_layout.h"

using coroner::commands::crash_layout;

namespace {

// What symbols::Types::definition prints for -o (its column sized from the largest offset).
const char* kFsStruct =
    "struct fs_struct {\n"
    "   [0] int users;\n"
    "   [4] spinlock_t lock;\n"
    "   [8] seqcount_spinlock_t seq;\n"
    "  [12] int umask;\n"
    "  [16] int in_exec;\n"
    "  [24] struct path root;\n"
    "  [40] struct path pwd;\n"
    "}\n"
    "SIZE: 56\n";

TEST(CrashLayout, DecimalIsUnchangedWhenTheColumnFits) {
  EXPECT_EQ(crash_layout(kFsStruct, 56, 10, std::nullopt), kFsStruct);
}

TEST(CrashLayout, HexOffsetsAndSize) {
  EXPECT_EQ(crash_layout(kFsStruct, 56, 16, std::nullopt),
            "struct fs_struct {\n"
            "   [0x0] int users;\n"
            "   [0x4] spinlock_t lock;\n"
            "   [0x8] seqcount_spinlock_t seq;\n"
            "   [0xc] int umask;\n"
            "  [0x10] int in_exec;\n"
            "  [0x18] struct path root;\n"
            "  [0x28] struct path pwd;\n"
            "}\n"
            "SIZE: 0x38\n");
}

TEST(CrashLayout, AddressesReplaceOffsets) {
  EXPECT_EQ(crash_layout(kFsStruct, 56, 10, 0xffffffff91375de0),
            "struct fs_struct {\n"
            "  [ffffffff91375de0] int users;\n"
            "  [ffffffff91375de4] spinlock_t lock;\n"
            "  [ffffffff91375de8] seqcount_spinlock_t seq;\n"
            "  [ffffffff91375dec] int umask;\n"
            "  [ffffffff91375df0] int in_exec;\n"
            "  [ffffffff91375df8] struct path root;\n"
            "  [ffffffff91375e08] struct path pwd;\n"
            "}\n"
            "SIZE: 56\n");
  EXPECT_EQ(crash_layout(kFsStruct, 56, 16, 0xffffffff91375de0).substr(0, 51),
            "struct fs_struct {\n  [ffffffff91375de0] int users;\n");
}

TEST(CrashLayout, ColumnFromSizeNotLargestOffset) {
  // sighand_struct: last member at 32, SIZE 2080: crash's column is "[2080]" + 2 wide.
  const char* def =
      "struct sighand_struct {\n"
      "   [0] spinlock_t siglock;\n"
      "   [4] refcount_t count;\n"
      "   [8] wait_queue_head_t signalfd_wqh;\n"
      "  [32] struct k_sigaction action[64];\n"
      "}\n"
      "SIZE: 2080\n";
  EXPECT_EQ(crash_layout(def, 2080, 10, std::nullopt),
            "struct sighand_struct {\n"
            "     [0] spinlock_t siglock;\n"
            "     [4] refcount_t count;\n"
            "     [8] wait_queue_head_t signalfd_wqh;\n"
            "    [32] struct k_sigaction action[64];\n"
            "}\n"
            "SIZE: 2080\n");
}

TEST(CrashLayout, AnonymousMembersKeepTheBlankColumn) {
  // task_struct's anonymous union: its braces sit in a blank column one wider than the offsets.
  const char* def =
      "struct t {\n"
      "  [4960] unsigned long x;\n"
      "         union {\n"
      "  [4968]     refcount_t rcu_users;\n"
      "  [4968]     struct callback_head rcu;\n"
      "         };\n"
      "}\n"
      "SIZE: 9728\n";
  EXPECT_EQ(crash_layout(def, 9728, 16, std::nullopt),
            "struct t {\n"
            "  [0x1360] unsigned long x;\n"
            "           union {\n"
            "  [0x1368]     refcount_t rcu_users;\n"
            "  [0x1368]     struct callback_head rcu;\n"
            "           };\n"
            "}\n"
            "SIZE: 0x2600\n");
  EXPECT_EQ(crash_layout(def, 9728, 10, 0xffffffff9121a000),
            "struct t {\n"
            "  [ffffffff9121b360] unsigned long x;\n"
            "         union {\n"
            "  [ffffffff9121b368]     refcount_t rcu_users;\n"
            "  [ffffffff9121b368]     struct callback_head rcu;\n"
            "         };\n"
            "}\n"
            "SIZE: 9728\n");
}

TEST(CrashLayout, DefinitionsWithoutOffsets) {
  const char* typedef_def = "typedef struct {\n    int counter;\n} atomic_t;\nSIZE: 4\n";
  EXPECT_EQ(crash_layout(typedef_def, 4, 16, std::nullopt), "typedef struct {\n    int counter;\n} atomic_t;\nSIZE: 0x4\n");
  const char* enum_def = "enum pid_type {\n  PIDTYPE_PID = 0\n};\n";
  EXPECT_EQ(crash_layout(enum_def, 4, 16, std::nullopt), enum_def);
}

}  // namespace
