#include "agent/daemon/status_event_hub.h"

#include <thread>

#include "gtest/gtest.h"

namespace probesnat::daemon {
namespace {

agent::PodState Status(const std::string& uid) {
  agent::PodState s;
  s.spec.uid = uid;
  return s;
}

TEST(StatusEventHubTest, EverySubscriberGetsEveryEventInOrder) {
  StatusEventHub hub;
  auto a = hub.Subscribe({});
  auto b = hub.Subscribe({Status("initial")});
  hub.Publish(Status("1"));
  hub.Publish(Status("2"));
  agent::PodState s;
  ASSERT_EQ(a->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent);
  EXPECT_EQ(s.spec.uid, "1");
  ASSERT_EQ(a->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent);
  EXPECT_EQ(s.spec.uid, "2");
  EXPECT_EQ(a->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kTimeout);
  for (const char* want : {"initial", "1", "2"}) {
    ASSERT_EQ(b->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent);
    EXPECT_EQ(s.spec.uid, want);
  }
}

TEST(StatusEventHubTest, SlowSubscriberOverflowsWithoutAffectingOthers) {
  StatusEventHub hub(2);
  auto slow = hub.Subscribe({});
  auto fast = hub.Subscribe({});
  agent::PodState s;
  for (int i = 0; i < 3; ++i) {
    hub.Publish(Status(std::to_string(i)));
    ASSERT_EQ(fast->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kEvent);
  }
  EXPECT_EQ(slow->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kOverflowed);
  EXPECT_EQ(slow->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kOverflowed);
}

TEST(StatusEventHubTest, CloseWakesAWaitingSubscriber) {
  StatusEventHub hub;
  auto sub = hub.Subscribe({});
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    hub.Close();
  });
  agent::PodState s;
  EXPECT_EQ(sub->Pop(absl::Seconds(30), &s), StatusSubscription::Next::kClosed);
  closer.join();
  EXPECT_EQ(hub.subscriber_count(), 0u);
  EXPECT_EQ(hub.Subscribe({})->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kClosed);
}

TEST(StatusEventHubTest, UnsubscribedGetsNothingMore) {
  StatusEventHub hub;
  auto sub = hub.Subscribe({});
  EXPECT_EQ(hub.subscriber_count(), 1u);
  hub.Unsubscribe(sub);
  EXPECT_EQ(hub.subscriber_count(), 0u);
  hub.Publish(Status("x"));
  agent::PodState s;
  EXPECT_EQ(sub->Pop(absl::ZeroDuration(), &s), StatusSubscription::Next::kTimeout);
}

}  // namespace
}  // namespace probesnat::daemon
