#include "agent/cni/attachment_store.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace probesnat::cni {
namespace {

class AttachmentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/psnt-cni-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static AttachmentRecord Record(const std::string& id, const std::string& ifname) {
    return {id, ifname, "uid-" + id, "shop", "web", "/run/netns/" + id, {"10.0.0.2", "fd00::2"},
            true};
  }
  std::string dir_;
};

TEST_F(AttachmentStoreTest, WriteReadRemove) {
  AttachmentStore store(dir_, "k8s");
  auto none = store.Read("c1", "eth0");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store.Write(Record("c1", "eth0")).ok());
  auto got = store.Read("c1", "eth0");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->uid, "uid-c1");
  EXPECT_EQ((*got)->ips, (std::vector<std::string>{"10.0.0.2", "fd00::2"}));
  EXPECT_TRUE((*got)->enrolled);
  struct stat st;
  ASSERT_EQ(::stat(store.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_TRUE(store.Remove("c1", "eth0").ok());
  EXPECT_FALSE(store.Read("c1", "eth0")->has_value());
  EXPECT_TRUE(store.Remove("c1", "eth0").ok());  // idempotent
}

TEST_F(AttachmentStoreTest, OverwriteAndList) {
  AttachmentStore store(dir_, "k8s");
  ASSERT_TRUE(store.Write(Record("c1", "eth0")).ok());
  ASSERT_TRUE(store.Write(Record("c1", "net1")).ok());
  AttachmentRecord open = Record("c2", "eth0");
  ASSERT_TRUE(store.Write(open).ok());
  open.enrolled = false;
  ASSERT_TRUE(store.Write(open).ok());
  auto all = store.List();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 3u);
  EXPECT_FALSE((*store.Read("c2", "eth0"))->enrolled);
  // Another network's records are separate.
  auto other = AttachmentStore(dir_, "other").List();
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
  // No temporary files are left behind.
  for (const auto& e : std::filesystem::directory_iterator(store.dir())) {
    EXPECT_EQ(e.path().extension(), ".json") << e.path();
  }
}

TEST_F(AttachmentStoreTest, CorruptRecordIsAnError) {
  AttachmentStore store(dir_, "k8s");
  ASSERT_TRUE(store.Write(Record("c1", "eth0")).ok());
  for (const auto& e : std::filesystem::directory_iterator(store.dir())) {
    std::ofstream(e.path()) << "{\"uid\": 3}";
  }
  EXPECT_FALSE(store.Read("c1", "eth0").ok());
  EXPECT_FALSE(store.List().ok());
}

}  // namespace
}  // namespace probesnat::cni
