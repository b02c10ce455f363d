#include "base/k8s_names.h"

#include <gtest/gtest.h>

#include <string>

namespace probesnat {
namespace {

TEST(K8sNames, Dns1123Label) {
  EXPECT_TRUE(IsDns1123Label("shop"));
  EXPECT_TRUE(IsDns1123Label("a-1"));
  EXPECT_TRUE(IsDns1123Label("0"));
  EXPECT_TRUE(IsDns1123Label(std::string(63, 'a')));
  EXPECT_FALSE(IsDns1123Label(std::string(64, 'a')));
  EXPECT_FALSE(IsDns1123Label(""));
  EXPECT_FALSE(IsDns1123Label("-a"));
  EXPECT_FALSE(IsDns1123Label("a-"));
  EXPECT_FALSE(IsDns1123Label("Shop"));
  EXPECT_FALSE(IsDns1123Label("a.b"));
  EXPECT_FALSE(IsDns1123Label("a_b"));
}

TEST(K8sNames, Dns1123Subdomain) {
  EXPECT_TRUE(IsDns1123Subdomain("web-0"));
  EXPECT_TRUE(IsDns1123Subdomain("a.b.c"));
  EXPECT_TRUE(IsDns1123Subdomain(std::string(253, 'a')));
  EXPECT_FALSE(IsDns1123Subdomain(std::string(254, 'a')));
  EXPECT_FALSE(IsDns1123Subdomain(""));
  EXPECT_FALSE(IsDns1123Subdomain("a..b"));
  EXPECT_FALSE(IsDns1123Subdomain(".a"));
  EXPECT_FALSE(IsDns1123Subdomain("a."));
  EXPECT_FALSE(IsDns1123Subdomain("a-.b"));
  EXPECT_FALSE(IsDns1123Subdomain("A.b"));
}

TEST(K8sNames, LabelKey) {
  EXPECT_TRUE(IsLabelKey("app"));
  EXPECT_TRUE(IsLabelKey("App_1.x-y"));
  EXPECT_TRUE(IsLabelKey("app.kubernetes.io/name"));
  EXPECT_TRUE(IsLabelKey(std::string(63, 'a')));
  EXPECT_FALSE(IsLabelKey(std::string(64, 'a')));
  EXPECT_FALSE(IsLabelKey(""));
  EXPECT_FALSE(IsLabelKey("/name"));
  EXPECT_FALSE(IsLabelKey("example.com/"));
  EXPECT_FALSE(IsLabelKey("Example.com/name"));
  EXPECT_FALSE(IsLabelKey("a..b/name"));
  EXPECT_FALSE(IsLabelKey("a/b/c"));
  EXPECT_FALSE(IsLabelKey("-app"));
  EXPECT_FALSE(IsLabelKey("app!"));
}

TEST(K8sNames, LabelValue) {
  EXPECT_TRUE(IsLabelValue(""));
  EXPECT_TRUE(IsLabelValue("v1.2_x-Y"));
  EXPECT_TRUE(IsLabelValue(std::string(63, 'a')));
  EXPECT_FALSE(IsLabelValue(std::string(64, 'a')));
  EXPECT_FALSE(IsLabelValue("-v"));
  EXPECT_FALSE(IsLabelValue("v."));
  EXPECT_FALSE(IsLabelValue("a/b"));
  EXPECT_FALSE(IsLabelValue("a b"));
}

TEST(K8sNames, IanaServiceName) {
  EXPECT_TRUE(IsIanaServiceName("http"));
  EXPECT_TRUE(IsIanaServiceName("http-alt"));
  EXPECT_TRUE(IsIanaServiceName("h2c"));
  EXPECT_TRUE(IsIanaServiceName(std::string(15, 'a')));
  EXPECT_FALSE(IsIanaServiceName(std::string(16, 'a')));
  EXPECT_FALSE(IsIanaServiceName(""));
  EXPECT_FALSE(IsIanaServiceName("8080"));
  EXPECT_FALSE(IsIanaServiceName("-http"));
  EXPECT_FALSE(IsIanaServiceName("http-"));
  EXPECT_FALSE(IsIanaServiceName("http--alt"));
  EXPECT_FALSE(IsIanaServiceName("HTTP"));
  EXPECT_FALSE(IsIanaServiceName("http_alt"));
}

}  // namespace
}  // namespace probesnat
