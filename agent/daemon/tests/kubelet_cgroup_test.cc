// Detecting and following the kubelet's cgroup, over a fake /proc and a fake cgroup root
// (directories: the id is the directory's inode number, as on cgroupfs). The real-kernel
// counterpart is netfilter/tests/cgroup_origin_packets_test.cc.
#include "agent/daemon/kubelet_cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "netfilter/cgroup_v2.h"

namespace probesnat::daemon {
namespace {

namespace fs = std::filesystem;

uint64_t Inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

class KubeletCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/kubelet-cgroup-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    base_ = templ;
    fs::create_directories(proc() / "1");
    Write(proc() / "1" / "comm", "systemd\n");
    Write(proc() / "1" / "cgroup", "0::/init.scope\n");
    fs::create_directories(cgroups() / "system.slice" / "kubelet.service");
    fs::create_directories(cgroups() / "system.slice" / "other.service");
  }
  void TearDown() override { fs::remove_all(base_); }

  fs::path proc() const { return base_ / "proc"; }
  fs::path cgroups() const { return base_ / "cgroup"; }
  static void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  void Process(int pid, const std::string& comm, const std::string& cgroup) {
    fs::create_directories(proc() / std::to_string(pid));
    Write(proc() / std::to_string(pid) / "comm", comm + "\n");
    Write(proc() / std::to_string(pid) / "cgroup", "0::" + cgroup + "\n");
  }
  ProbeOriginTracker Tracker(ProbeOriginMode mode, const std::string& configured = "") {
    return ProbeOriginTracker({.mode = mode,
                               .kubelet_cgroup = configured,
                               .cgroup_root = cgroups().string(),
                               .proc_root = proc().string()});
  }

  fs::path base_;
};

TEST_F(KubeletCgroupTest, FindsTheCgroup2RootInMountinfo) {
  Write(base_ / "mountinfo",
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "40 31 0:37 /kubepods /x rw,relatime - cgroup2 cgroup2 rw\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n");
  absl::StatusOr<std::string> root = netfilter::FindCgroup2Root((base_ / "mountinfo").string());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, "/sys/fs/cgroup/unified");  // not the one whose root is a sub-cgroup
  Write(base_ / "mountinfo", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
  EXPECT_TRUE(absl::IsNotFound(netfilter::FindCgroup2Root((base_ / "mountinfo").string()).status()));
}

TEST_F(KubeletCgroupTest, ResolvesIdLevelAndNftPath) {
  absl::StatusOr<netfilter::KubeletCgroup> c =
      netfilter::ResolveCgroup(cgroups().string(), "/system.slice/kubelet.service/");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, "system.slice/kubelet.service");
  EXPECT_EQ(c->level, 2u);
  EXPECT_EQ(c->id, Inode(cgroups() / "system.slice" / "kubelet.service"));
  absl::StatusOr<netfilter::KubeletCgroup> hybrid =
      netfilter::ResolveCgroup("/sys/fs/cgroup/unified", "init.scope");
  if (hybrid.ok()) {
    EXPECT_EQ(hybrid->nft_path, "unified/init.scope");
  }
  EXPECT_TRUE(absl::IsNotFound(netfilter::ResolveCgroup(cgroups().string(), "gone").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(netfilter::ResolveCgroup(cgroups().string(), "/").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      netfilter::ResolveCgroup(cgroups().string(), "system.slice/../x").status()));
}

TEST_F(KubeletCgroupTest, DetectsTheKubeletProcessThenTheKnownUnits) {
  // No kubelet process: the kubeadm unit's cgroup exists.
  absl::StatusOr<std::string> found = DetectKubeletCgroup(proc().string(), cgroups().string());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, "system.slice/kubelet.service");
  // A kubelet process decides (k3s runs it inside k3s-server).
  fs::create_directories(cgroups() / "system.slice" / "k3s.service");
  Process(4242, "k3s-server", "/system.slice/k3s.service");
  found = DetectKubeletCgroup(proc().string(), cgroups().string());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, "system.slice/k3s.service");
}

TEST_F(KubeletCgroupTest, AKubeletInTheRootOrOutsideOurNamespaceDoesNotCount) {
  fs::remove_all(cgroups() / "system.slice" / "kubelet.service");
  Process(77, "kubelet", "/");
  EXPECT_TRUE(absl::IsNotFound(DetectKubeletCgroup(proc().string(), cgroups().string()).status()));
  Process(77, "kubelet", "/../../system.slice/kubelet.service");
  EXPECT_TRUE(absl::IsNotFound(DetectKubeletCgroup(proc().string(), cgroups().string()).status()));
}

TEST_F(KubeletCgroupTest, AutoChoosesCgroupWhenFoundElseAnyLocalWithAWarning) {
  ProbeOriginTracker tracker = Tracker(ProbeOriginMode::kAuto);
  netfilter::HostRules rules = tracker.Start({});
  EXPECT_EQ(rules.origin, netfilter::ProbeOrigin::kCgroup);
  EXPECT_EQ(rules.kubelet_cgroup.id, Inode(cgroups() / "system.slice" / "kubelet.service"));
  EXPECT_FALSE(tracker.warning());
  EXPECT_NE(tracker.Describe().find("system.slice/kubelet.service"), std::string::npos);

  fs::remove_all(cgroups() / "system.slice" / "kubelet.service");
  ProbeOriginTracker none = Tracker(ProbeOriginMode::kAuto);
  rules = none.Start({});
  EXPECT_EQ(rules.origin, netfilter::ProbeOrigin::kAnyLocal);
  EXPECT_TRUE(none.warning());
  EXPECT_NE(none.Describe().find("any-local"), std::string::npos);
  // Any-local never turns into cgroup later either: the mode is decided once.
  fs::create_directories(cgroups() / "system.slice" / "kubelet.service");
  EXPECT_FALSE(none.Recheck(rules).has_value());
}

TEST_F(KubeletCgroupTest, ConfiguredCgroupModeWithoutACgroupMatchesNobody) {
  ProbeOriginTracker tracker = Tracker(ProbeOriginMode::kCgroup, "system.slice/missing.service");
  netfilter::HostRules rules = tracker.Start({});
  EXPECT_EQ(rules.origin, netfilter::ProbeOrigin::kCgroup);
  EXPECT_EQ(rules.kubelet_cgroup.id, 0u);
  EXPECT_TRUE(tracker.warning());
  // It appears: the periodic check picks it up.
  fs::create_directories(cgroups() / "system.slice" / "missing.service");
  std::optional<netfilter::HostRules> next = tracker.Recheck(rules);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->kubelet_cgroup.id, Inode(cgroups() / "system.slice" / "missing.service"));
  EXPECT_FALSE(tracker.warning());
}

TEST_F(KubeletCgroupTest, RecheckFollowsARecreatedMovedOrDeletedCgroupAndNeverFallsBack) {
  ProbeOriginTracker tracker = Tracker(ProbeOriginMode::kAuto);
  netfilter::HostRules rules = tracker.Start({});
  ASSERT_EQ(rules.origin, netfilter::ProbeOrigin::kCgroup);
  EXPECT_FALSE(tracker.Recheck(rules).has_value());  // unchanged: nothing to do

  // Deleted and made again under the same path: another id.
  const fs::path unit = cgroups() / "system.slice" / "kubelet.service";
  fs::rename(unit, cgroups() / "old");  // kept, so the new directory cannot reuse its inode
  fs::create_directories(unit);
  std::optional<netfilter::HostRules> next = tracker.Recheck(rules);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->kubelet_cgroup.id, Inode(unit));
  EXPECT_NE(next->kubelet_cgroup.id, rules.kubelet_cgroup.id);
  rules = *next;

  // The kubelet moves (its process says where).
  fs::create_directories(cgroups() / "kubelet.slice");
  Process(900, "kubelet", "/kubelet.slice");
  next = tracker.Recheck(rules);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->kubelet_cgroup.path, "kubelet.slice");
  EXPECT_EQ(next->kubelet_cgroup.level, 1u);
  rules = *next;

  // Gone: nobody, not everybody.
  fs::remove_all(cgroups() / "kubelet.slice");
  fs::remove_all(unit);
  next = tracker.Recheck(rules);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->origin, netfilter::ProbeOrigin::kCgroup);
  EXPECT_EQ(next->kubelet_cgroup.id, 0u);
  EXPECT_TRUE(tracker.warning());
  EXPECT_NE(tracker.Describe().find("gone"), std::string::npos);
}

}  // namespace
}  // namespace probesnat::daemon
