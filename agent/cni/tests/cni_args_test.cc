#include "agent/cni/cni_args.h"

#include "agent/cni/cni_error.h"
#include "gtest/gtest.h"

namespace probesnat::cni {
namespace {

TEST(CniArgs, ParsesThePairsARuntimePasses) {
  auto args = ParseCniArgs(
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;"
      "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=3b0f6a52-1c2d-4e8f-9a01-5b6c7d8e9f0a");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->size(), 5u);
  auto pod = PodIdentityFromArgs(*args, "abc");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->namespace_name, "shop");
  EXPECT_EQ(pod->name, "web-0");
  EXPECT_EQ(pod->uid, "3b0f6a52-1c2d-4e8f-9a01-5b6c7d8e9f0a");
  EXPECT_FALSE(pod->uid_from_container_id);
}

TEST(CniArgs, EmptyIsNoArguments) {
  auto args = ParseCniArgs("");
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(args->empty());
}

TEST(CniArgs, ValueMayContainEquals) {
  auto args = ParseCniArgs("A=b=c");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->at("A"), "b=c");
}

TEST(CniArgs, MalformedPairsAreInvalidEnvironment) {
  for (const char* bad : {"A", "=x", "A=1;;B=2", "A=1;", "A=1;A=2"}) {
    auto args = ParseCniArgs(bad);
    ASSERT_FALSE(args.ok()) << bad;
    EXPECT_EQ(ToCniError(args.status()).code, CniCode::kInvalidEnvironment) << bad;
  }
  auto nul = ParseCniArgs(std::string("A=1\0B", 5));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(ToCniError(nul.status()).code, CniCode::kInvalidEnvironment);
}

TEST(CniArgs, MissingPodArgumentsAreCode4) {
  auto args = ParseCniArgs("K8S_POD_NAME=web");
  ASSERT_TRUE(args.ok());
  auto pod = PodIdentityFromArgs(*args, "abc");
  ASSERT_FALSE(pod.ok());
  CniError error = ToCniError(pod.status());
  EXPECT_EQ(error.code, CniCode::kInvalidEnvironment);
  EXPECT_NE(error.msg.find("K8S_POD_NAMESPACE"), std::string::npos);
}

TEST(CniArgs, NamesAreCheckedAgainstKubernetesRules) {
  auto bad_ns = PodIdentityFromArgs({{"K8S_POD_NAMESPACE", "Shop"}, {"K8S_POD_NAME", "a"}}, "c");
  EXPECT_FALSE(bad_ns.ok());
  auto bad_name = PodIdentityFromArgs({{"K8S_POD_NAMESPACE", "shop"}, {"K8S_POD_NAME", "a_b"}}, "c");
  EXPECT_FALSE(bad_name.ok());
  auto bad_uid = PodIdentityFromArgs(
      {{"K8S_POD_NAMESPACE", "shop"}, {"K8S_POD_NAME", "a"}, {"K8S_POD_UID", "a/b"}}, "c");
  EXPECT_FALSE(bad_uid.ok());
}

TEST(CniArgs, WithoutUidTheContainerIdNamesThePod) {
  auto pod = PodIdentityFromArgs({{"K8S_POD_NAMESPACE", "shop"}, {"K8S_POD_NAME", "a"}},
                                 "0123abcd");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->uid, "cni-0123abcd");
  EXPECT_TRUE(pod->uid_from_container_id);
}

TEST(CniArgs, ContainerIdAndInterfaceName) {
  EXPECT_TRUE(IsContainerId("0f1e2d3c4b5a"));
  EXPECT_TRUE(IsContainerId("pod_1.sandbox-2"));
  EXPECT_FALSE(IsContainerId(""));
  EXPECT_FALSE(IsContainerId(".."));
  EXPECT_FALSE(IsContainerId("a/b"));
  EXPECT_FALSE(IsContainerId(std::string(129, 'a')));
  EXPECT_TRUE(IsInterfaceName("eth0"));
  EXPECT_TRUE(IsInterfaceName("net1@x"));
  EXPECT_FALSE(IsInterfaceName(""));
  EXPECT_FALSE(IsInterfaceName("a/b"));
  EXPECT_FALSE(IsInterfaceName("a b"));
  EXPECT_FALSE(IsInterfaceName("sixteen-chars-xx"));
}

}  // namespace
}  // namespace probesnat::cni
