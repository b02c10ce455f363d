#include "agent/daemon/pod_store.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

v1::PodStatus Status(const std::string& uid, v1::PodPhase phase, const std::string& name = "p") {
  v1::PodStatus s;
  s.mutable_pod()->set_uid(uid);
  s.mutable_pod()->set_name(name);
  s.set_phase(phase);
  return s;
}

std::vector<std::string> Drain(StatusSubscription& sub) {
  std::vector<std::string> out;
  v1::PodStatus s;
  while (sub.Pop(absl::ZeroDuration(), &s) == StatusSubscription::Next::kEvent) {
    out.push_back(s.pod().uid() + ":" + v1::PodPhase_Name(s.phase()));
  }
  return out;
}

TEST(PodStoreTest, PutAndEraseAreListedAndPublishedInOrder) {
  StatusEventHub hub;
  PodStore store(hub);
  store.Put(Status("a", v1::POD_PHASE_APPLIED));
  std::shared_ptr<StatusSubscription> sub = store.Watch(/*initial_state=*/true);
  store.Put(Status("b", v1::POD_PHASE_FAILED));
  store.Erase("a", Status("a", v1::POD_PHASE_REMOVED));
  store.Erase("zzz", Status("zzz", v1::POD_PHASE_REMOVED));  // unknown: nothing published
  EXPECT_THAT(Drain(*sub), ::testing::ElementsAre("a:POD_PHASE_APPLIED", "b:POD_PHASE_FAILED",
                                                  "a:POD_PHASE_REMOVED"));
  ASSERT_EQ(store.List().size(), 1u);
  EXPECT_EQ(store.Get("b")->phase(), v1::POD_PHASE_FAILED);
  EXPECT_EQ(store.Get("a").status().code(), absl::StatusCode::kNotFound);
}

TEST(PodStoreTest, TheListenerHearsSpecChangesAndRemovalsNotPhaseChanges) {
  StatusEventHub hub;
  PodStore store(hub);
  store.Put(Status("early", v1::POD_PHASE_APPLIED));
  std::vector<std::string> heard;
  store.SetListener({.upserted = [&](const v1::Pod& p) { heard.push_back("+" + p.uid() + p.name()); },
                     .removed = [&](const std::string& uid) { heard.push_back("-" + uid); }});
  store.Put(Status("a", v1::POD_PHASE_PENDING));
  store.Put(Status("a", v1::POD_PHASE_APPLIED));          // same pod: not told
  store.Put(Status("a", v1::POD_PHASE_APPLIED, "renamed"));  // its spec changed
  store.Erase("a", Status("a", v1::POD_PHASE_REMOVED));
  EXPECT_THAT(heard, ::testing::ElementsAre("+earlyp", "+ap", "+arenamed", "-a"));
}

}  // namespace
}  // namespace probesnat::daemon
