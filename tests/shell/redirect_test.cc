// Where the shell cuts a line for `| pipeline` and `> file`: crash's rules (C's `->`, quotes
// and parentheses hold no redirection; brackets do not protect).
#include <gtest/gtest.h>

#include "shell/shell.h"

namespace coroner::shell {
namespace {

constexpr size_t npos = std::string::npos;

TEST(FindUnquoted, ArrowIsNotARedirection) {
  EXPECT_EQ(find_unquoted("p init_task.mm->pgd", ">"), npos);
  EXPECT_EQ(find_unquoted("p (init_task.tasks.next)->prev", ">"), npos);
  EXPECT_EQ(find_unquoted("struct list_head init_task.tasks.next->prev", ">"), npos);
  // An arrow and then a real redirection: the cut is at the second '>'.
  EXPECT_EQ(find_unquoted("p a->b > /tmp/x", ">"), 7u);
  EXPECT_EQ(find_unquoted("p a->b >> /tmp/x", ">"), 7u);
}

TEST(FindUnquoted, RedirectionsAndPipes) {
  EXPECT_EQ(find_unquoted("p jiffies > /tmp/x", ">"), 10u);
  EXPECT_EQ(find_unquoted("p init_task.prio>1", ">"), 16u);
  EXPECT_EQ(find_unquoted("sym jiffies | cat", "|"), 12u);
  EXPECT_EQ(find_unquoted("p jiffies", ">"), npos);
}

TEST(FindUnquoted, QuotesAndParenthesesProtect) {
  EXPECT_EQ(find_unquoted("p (init_task.prio > 1)", ">"), npos);
  EXPECT_EQ(find_unquoted("eval (1 << 4) | cat", "|"), 14u);
  EXPECT_EQ(find_unquoted("eval (x | 1)", "|"), npos);
  EXPECT_EQ(find_unquoted("ps 'a>b'", ">"), npos);
  EXPECT_EQ(find_unquoted("ps \"a|b\" | wc", "|"), 9u);
  EXPECT_EQ(find_unquoted("p ((a > b) + (c > d)) > f", ">"), 22u);
}

TEST(FindUnquoted, BracketsDoNotProtect) {
  // crash 9: "p init_task.comm[1>0]" fails as "p init_task.comm[1" (the rest went to a file).
  EXPECT_EQ(find_unquoted("p init_task.comm[1>0]", ">"), 18u);
}

}  // namespace
}  // namespace coroner::shell
