#include "agent/daemon/timed_journal.h"

#include "absl/time/clock.h"

namespace probesnat::daemon {

absl::Status TimedJournal::Put(const JournaledPod& pod) {
  const absl::Time start = absl::Now();
  absl::Status st = inner_.Put(pod);
  observer_.OnStateWrite(absl::Now() - start, st.ok());
  return st;
}

absl::Status TimedJournal::Erase(const std::string& uid) {
  const absl::Time start = absl::Now();
  absl::Status st = inner_.Erase(uid);
  observer_.OnStateWrite(absl::Now() - start, st.ok());
  return st;
}

}  // namespace probesnat::daemon
