#include "agent/policy/label_selector.h"

#include <gtest/gtest.h>

namespace probesnat::policy {
namespace {

using Op = LabelRequirement::Op;

TEST(LabelSelector, EmptySelectsEverything) {
  EXPECT_TRUE(LabelSelector{}.Matches({}));
  EXPECT_TRUE(LabelSelector{}.Matches({{"a", "b"}}));
}

TEST(LabelSelector, MatchLabelsAndExpressionsAreAnded) {
  LabelSelector s;
  s.match_labels = {{"app", "web"}};
  s.match_expressions.push_back({"tier", Op::kIn, {"front", "edge"}});
  EXPECT_TRUE(s.Matches({{"app", "web"}, {"tier", "edge"}}));
  EXPECT_FALSE(s.Matches({{"app", "web"}}));
  EXPECT_FALSE(s.Matches({{"app", "db"}, {"tier", "front"}}));
}

TEST(LabelSelector, Operators) {
  EXPECT_TRUE((LabelSelector{{}, {{"v", Op::kNotIn, {"1"}}}}).Matches({}));  // missing key
  EXPECT_FALSE((LabelSelector{{}, {{"v", Op::kNotIn, {"1"}}}}).Matches({{"v", "1"}}));
  EXPECT_TRUE((LabelSelector{{}, {{"v", Op::kNotIn, {"1"}}}}).Matches({{"v", "2"}}));
  EXPECT_FALSE((LabelSelector{{}, {{"v", Op::kIn, {"1"}}}}).Matches({}));
  EXPECT_TRUE((LabelSelector{{}, {{"v", Op::kExists, {}}}}).Matches({{"v", ""}}));
  EXPECT_FALSE((LabelSelector{{}, {{"v", Op::kExists, {}}}}).Matches({}));
  EXPECT_TRUE((LabelSelector{{}, {{"v", Op::kDoesNotExist, {}}}}).Matches({}));
  EXPECT_FALSE((LabelSelector{{}, {{"v", Op::kDoesNotExist, {}}}}).Matches({{"v", "x"}}));
}

TEST(LabelSelector, ParsesKubectlSyntax) {
  absl::StatusOr<LabelSelector> s =
      ParseSelectorString("app=web, tier in (front, edge),env!=dev,!legacy,team,v==2,x notin (a)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->Matches({{"app", "web"}, {"tier", "front"}, {"team", "x"}, {"v", "2"}}));
  EXPECT_FALSE(
      s->Matches({{"app", "web"}, {"tier", "front"}, {"team", "x"}, {"v", "2"}, {"legacy", "1"}}));
  EXPECT_FALSE(
      s->Matches({{"app", "web"}, {"tier", "front"}, {"team", "x"}, {"v", "2"}, {"env", "dev"}}));
  EXPECT_FALSE(
      s->Matches({{"app", "web"}, {"tier", "front"}, {"team", "x"}, {"v", "2"}, {"x", "a"}}));
  EXPECT_TRUE(ParseSelectorString("")->empty());
  EXPECT_FALSE(ParseSelectorString("a in (b").ok());
  EXPECT_FALSE(ParseSelectorString("a,,b").ok());
  EXPECT_FALSE(ParseSelectorString("a b").ok());
}

}  // namespace
}  // namespace probesnat::policy
