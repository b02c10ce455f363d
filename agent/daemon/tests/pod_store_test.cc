#include "agent/daemon/pod_store.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

using agent::PodPhase;

agent::PodState Status(const std::string& uid, PodPhase phase, const std::string& name = "p") {
  agent::PodState s;
  s.spec.uid = uid;
  s.spec.name = name;
  s.phase = phase;
  return s;
}

std::vector<std::string> Drain(StatusSubscription& sub) {
  std::vector<std::string> out;
  agent::PodState s;
  while (sub.Pop(absl::ZeroDuration(), &s) == StatusSubscription::Next::kEvent) {
    out.push_back(s.spec.uid + ":" + std::string(agent::PodPhaseName(s.phase)));
  }
  return out;
}

TEST(PodStoreTest, PutAndEraseAreListedAndPublishedInOrder) {
  StatusEventHub hub;
  PodStore store(hub);
  store.Put(Status("a", PodPhase::kApplied));
  std::shared_ptr<StatusSubscription> sub = store.Watch(/*initial_state=*/true);
  store.Put(Status("b", PodPhase::kFailed));
  store.Erase("a", Status("a", PodPhase::kRemoved));
  store.Erase("zzz", Status("zzz", PodPhase::kRemoved));  // unknown: nothing published
  EXPECT_THAT(Drain(*sub), ::testing::ElementsAre("a:APPLIED", "b:FAILED", "a:REMOVED"));
  ASSERT_EQ(store.List().size(), 1u);
  EXPECT_EQ(store.Get("b")->phase, PodPhase::kFailed);
  EXPECT_EQ(store.Get("a").status().code(), absl::StatusCode::kNotFound);
}

TEST(PodStoreTest, TheListenerHearsSpecChangesAndRemovalsNotPhaseChanges) {
  StatusEventHub hub;
  PodStore store(hub);
  store.Put(Status("early", PodPhase::kApplied));
  std::vector<std::string> heard;
  store.SetListener(
      {.upserted = [&](const agent::PodSpec& p) { heard.push_back("+" + p.uid + p.name); },
       .removed = [&](const std::string& uid) { heard.push_back("-" + uid); }});
  store.Put(Status("a", PodPhase::kPending));
  store.Put(Status("a", PodPhase::kApplied));             // same pod: not told
  store.Put(Status("a", PodPhase::kApplied, "renamed"));  // its spec changed
  store.Erase("a", Status("a", PodPhase::kRemoved));
  EXPECT_THAT(heard, ::testing::ElementsAre("+earlyp", "+ap", "+arenamed", "-a"));
}

}  // namespace
}  // namespace probesnat::daemon
