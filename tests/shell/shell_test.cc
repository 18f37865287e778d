#include <gtest/gtest.h>

#include "commands/command.h"
#include "shell/history.h"
#include "shell/shell.h"

using namespace coroner;

TEST(SplitWords, QuotesAndEscapes) {
  using V = std::vector<std::string>;
  EXPECT_EQ(shell::split_words("sym  -q  foo"), (V{"sym", "-q", "foo"}));
  EXPECT_EQ(shell::split_words("ps 'a b' \"c d\" e\\ f"), (V{"ps", "'a b'", "c d", "e f"}));
  EXPECT_EQ(shell::split_words("ps \\123 'kworker.*'"), (V{"ps", "\\123", "'kworker.*'"}));
  EXPECT_EQ(shell::split_words("   "), V{});
  EXPECT_EQ(shell::split_words("x ''"), (V{"x", "''"}));
}

TEST(ParseArgs, OptionsFromTheSpec) {
  const commands::Command* sym = commands::find_command("sym");
  ASSERT_NE(sym, nullptr);
  auto a = commands::parse_args(sym->spec, {"-q", "sysrq", "jiffies"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value('q'), "sysrq");
  EXPECT_EQ(a->positional, std::vector<std::string>{"jiffies"});
  auto b = commands::parse_args(sym->spec, {"-qsysrq"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->value('q'), "sysrq");
}

TEST(ParseArgs, ErrorsNameTheOption) {
  const commands::Command* sym = commands::find_command("sym");
  auto bad = commands::parse_args(sym->spec, {"-z"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "sym: invalid option -- 'z'");
  auto missing = commands::parse_args(sym->spec, {"-q"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "sym: option requires an argument -- 'q'");
  // Negative numbers are arguments, not options.
  auto neg = commands::parse_args(sym->spec, {"-1"});
  ASSERT_TRUE(neg);
  EXPECT_EQ(neg->positional.size(), 1u);
}

TEST(Registry, EveryCommandHasHelp) {
  for (const auto& c : commands::all_commands()) {
    EXPECT_FALSE(c.spec.summary.empty()) << c.spec.name;
    EXPECT_FALSE(c.spec.examples.empty()) << c.spec.name;
    EXPECT_NE(commands::format_help(c.spec).find(c.spec.name), std::string::npos);
    EXPECT_EQ(commands::find_command(c.spec.name), &c);
  }
  EXPECT_EQ(commands::find_command("dmesg"), commands::find_command("log"));
}

TEST(ProgramArgs, UsageErrors) {
  const char* argv1[] = {"coroner", "--bogus"};
  auto r = shell::parse_program_args(2, const_cast<char**>(argv1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "unknown option: --bogus");
  const char* argv2[] = {"coroner", "--kaslr", "zz"};
  auto k = shell::parse_program_args(3, const_cast<char**>(argv2));
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().message, "--kaslr: not a hex offset: zz");
  const char* argv3[] = {"coroner", "-h"};
  auto h = shell::parse_program_args(2, const_cast<char**>(argv3));
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->help);
}

TEST(History, CrashsPseudoCommands) {
  using K = shell::HistoryRequest::Kind;
  std::vector<std::string> none;
  EXPECT_EQ(shell::history_request("h", none).kind, K::failed);
  EXPECT_EQ(shell::history_request("h", none).message, "no commands entered!");
  EXPECT_EQ(shell::history_request("r", none).message, "no commands entered!");
  EXPECT_EQ(shell::history_request("sym jiffies", none).kind, K::none);

  std::vector<std::string> hist{"sys", "bt -a", "sym jiffies", "bt"};
  EXPECT_EQ(shell::history_request("h", hist).kind, K::list);
  EXPECT_EQ(shell::history_request("hist", hist).kind, K::list);  // crash: any line starting "hi"
  EXPECT_EQ(shell::history_request("help", hist).kind, K::none);
  EXPECT_EQ(shell::history_listing(hist), "[1] sys\n[2] bt -a\n[3] sym jiffies\n[4] bt\n");
  auto rerun = [&](std::string_view line) {
    auto r = shell::history_request(line, hist);
    return r.kind == K::rerun ? r.line : "failed: " + r.message;
  };
  EXPECT_EQ(rerun("r"), "bt");
  EXPECT_EQ(rerun("!!"), "bt");
  EXPECT_EQ(rerun("r 2"), "bt -a");
  EXPECT_EQ(rerun("r2"), "bt -a");
  EXPECT_EQ(rerun("!3"), "sym jiffies");
  EXPECT_EQ(rerun("r bt"), "bt");       // the latest line with the prefix
  EXPECT_EQ(rerun("r bt -"), "bt -a");
  EXPECT_EQ(rerun("r sy"), "sym jiffies");
  EXPECT_EQ(rerun("r 9"), "failed: command 9 not entered yet!");
  EXPECT_EQ(rerun("r 0"), "failed: invalid repeat request: r 0");
  EXPECT_EQ(rerun("r 99999999999999999999"), "failed: command 99999999999999999999 not entered yet!");
  EXPECT_EQ(rerun("r xyz"), "failed: invalid repeat request: r xyz");
  EXPECT_EQ(shell::history_request("rd jiffies", hist).kind, K::none);
  EXPECT_EQ(shell::history_request("!ls", hist).kind, K::none);  // a shell command
}
