// Every built-in command documents itself completely (help, completion and option errors
// all come from its spec), and `help CMD` lays the spec out in crash's sections.
#include <gtest/gtest.h>

#include "commands/command.h"
#include "commands/help.h"

using namespace coroner;

TEST(Help, EveryBuiltinCommandIsDocumented) {
  for (const auto& c : commands::all_commands()) {
    const auto& spec = c.spec;
    EXPECT_FALSE(spec.summary.empty()) << spec.name << ": no summary";
    EXPECT_FALSE(spec.usage.empty()) << spec.name << ": no usage";
    EXPECT_FALSE(spec.examples.empty()) << spec.name << ": no example";
    for (const auto& o : spec.options) EXPECT_FALSE(o.help.empty()) << spec.name << ": -" << o.flag << " has no help";
  }
}

TEST(Help, PageHasCrashSections) {
  for (const auto& c : commands::all_commands()) {
    std::string page = commands::help_page(c.spec, "coroner");
    EXPECT_EQ(page.rfind("\nNAME\n  " + c.spec.name + " - " + c.spec.summary + "\n\nSYNOPSIS\n  " + c.spec.name + " ", 0),
              0u)
        << page;
    EXPECT_NE(page.find("\n\nDESCRIPTION\n"), std::string::npos) << c.spec.name;
    for (const auto& o : c.spec.options)
      EXPECT_NE(page.find(std::string(" -") + o.flag + " "), std::string::npos) << c.spec.name << " -" << o.flag;
    if (!c.spec.examples.empty()) {
      EXPECT_NE(page.find("\nEXAMPLES\n    coroner> " + c.spec.examples.front() + "\n"), std::string::npos) << page;
    }
    EXPECT_EQ(page.substr(page.size() - 2), "\n\n") << c.spec.name;
  }
}

TEST(Help, OptionArgumentsAreNamedAsInTheUsage) {
  commands::CommandSpec spec{"demo",
                             {"dm"},
                             "show a demo",
                             "[-l] | [-m module] [-x]",
                             {{'l', false, "list everything"}, {'m', true, "only this module"}, {'x', true, "hex"}},
                             {"demo -l"}};
  std::string page = commands::help_page(spec, "coroner");
  EXPECT_NE(page.find("\n          -l  List everything.\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\n   -m module  Only this module.\n"), std::string::npos) << page;
  EXPECT_NE(page.find("\n      -x arg  Hex.\n"), std::string::npos) << page;
  EXPECT_NE(page.find("may also be entered as \"dm\"."), std::string::npos) << page;
}

TEST(Help, LongOptionTextWrapsUnderItsColumn) {
  commands::CommandSpec spec{"demo", {}, "demo", "[-a]", {{'a', false, std::string(30, 'w') + " " + std::string(30, 'v') + " " + std::string(30, 'u')}}, {"demo"}};
  std::string page = commands::help_page(spec, "coroner");
  for (size_t at = 0, end; (end = page.find('\n', at)) != std::string::npos; at = end + 1)
    EXPECT_LE(end - at, 80u) << page.substr(at, end - at);
  EXPECT_NE(page.find("\n       " + std::string(30, 'u') + ".\n"), std::string::npos) << page;
}
