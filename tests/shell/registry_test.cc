// The command registry's run-time part (extension commands), crash's built-in aliases, and
// the Ctrl-C path through Output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "commands/command.h"

using namespace coroner;

namespace {
commands::Command fake(const std::string& name) {
  return commands::Command{commands::CommandSpec{name, {}, "a test command", "", {{'x', false, "x"}}, {name}},
                           [](commands::Session&, const commands::Args&, commands::Output&) -> Result<void> {
                             return ok();
                           }};
}
}  // namespace

TEST(Extensions, AddFindRemove) {
  ASSERT_TRUE(commands::add_extension_commands("/tmp/a.so", {fake("zz_ext_one"), fake("zz_ext_two")}));
  const commands::Command* c = commands::find_command("zz_ext_two");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->spec.summary, "a test command");
  auto every = commands::every_command();
  EXPECT_TRUE(std::is_sorted(every.begin(), every.end(), [](auto* a, auto* b) { return a->spec.name < b->spec.name; }));
  EXPECT_NE(std::find(every.begin(), every.end(), c), every.end());
  auto groups = commands::extension_commands();
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].first, "/tmp/a.so");
  EXPECT_EQ(groups[0].second.size(), 2u);
  // The same owner twice, a built-in's name, or a name twice: refused, nothing added.
  EXPECT_FALSE(commands::add_extension_commands("/tmp/a.so", {fake("zz_other")}));
  auto clash = commands::add_extension_commands("/tmp/b.so", {fake("sym")});
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().message, "/tmp/b.so: command \"sym\" already exists");
  EXPECT_FALSE(commands::add_extension_commands("/tmp/c.so", {fake("zz_dup"), fake("zz_dup")}));
  EXPECT_EQ(commands::find_command("zz_dup"), nullptr);
  commands::remove_extension_commands("/tmp/a.so");
  EXPECT_EQ(commands::find_command("zz_ext_one"), nullptr);
  EXPECT_TRUE(commands::extension_commands().empty());
}

TEST(Aliases, CrashBuiltins) {
  auto a = commands::builtin_aliases();
  ASSERT_EQ(a.size(), 15u);
  EXPECT_EQ(a.front().name, "man");
  EXPECT_EQ(a.back().command, "ps -l");
  for (auto& x : a) EXPECT_EQ(x.origin, "builtin");
}

TEST(Interrupt, OutputStopsAfterCtrlC) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  commands::Output out(f);
  commands::interrupt_flag = 0;
  out.print("before {}\n", 1);
  EXPECT_TRUE(commands::check_interrupt());
  commands::interrupt_flag = 1;
  EXPECT_THROW(out.print("after\n"), commands::OutputStopped);
  EXPECT_THROW(out.write("after\n"), commands::OutputStopped);
  auto r = commands::check_interrupt();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "interrupted");
  commands::interrupt_flag = 0;
  std::fclose(f);
}

TEST(ParseArgs, KeepsTheWordsAsTyped) {
  const commands::Command* sym = commands::find_command("sym");
  auto a = commands::parse_args(sym->spec, {"-q", "x", "y"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->words, (std::vector<std::string>{"-q", "x", "y"}));
}
