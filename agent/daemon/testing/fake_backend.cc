#include "agent/daemon/testing/fake_backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace probesnat::daemon::testing {
namespace {

constexpr uint64_t kFakeDev = 4;  // nsfs device number of every fake namespace

}  // namespace

FakeBackend::FakeBackend() = default;

absl::Status FakeBackend::TakeInjected(Op op) {
  ++calls_[op];
  auto it = injected_.find(op);
  if (it == injected_.end() || it->second.empty()) {
    return absl::OkStatus();
  }
  absl::Status st = it->second.front();
  it->second.erase(it->second.begin());
  return st;
}

void FakeBackend::FailNext(Op op, const absl::Status& status, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < times; ++i) {
    injected_[op].push_back(status);
  }
}

absl::Status FakeBackend::EnsureHost(const netfilter::HostRules& rules) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kEnsureHost); !st.ok()) {
    return st;
  }
  if (!host_present_) {
    members_.clear();
  }
  host_present_ = true;
  host_rules_match_ = true;
  return absl::OkStatus();
}

absl::Status FakeBackend::UpdateHostMembers(const std::vector<netfilter::HostMember>& add,
                                            const std::vector<IpAddress>& remove) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kUpdateHostMembers); !st.ok()) {
    return st;
  }
  if (!host_present_) {
    return absl::UnavailableError("table inet probesnat does not exist in the host namespace");
  }
  for (const auto& ip : remove) {
    members_.erase(ip);
  }
  for (const auto& m : add) {
    members_[m.ip] = m.owner;
  }
  return absl::OkStatus();
}

absl::StatusOr<netfilter::HostObservation> FakeBackend::ObserveHost(
    const netfilter::HostRules& rules) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kObserveHost); !st.ok()) {
    return st;
  }
  netfilter::HostObservation obs;
  obs.table_present = host_present_;
  obs.rules_match = host_present_ && host_rules_match_;
  if (host_present_) {
    for (const auto& [ip, owner] : members_) {
      obs.members.push_back({ip, owner});
    }
  }
  return obs;
}

absl::Status FakeBackend::RemoveHost() {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kRemoveHost); !st.ok()) {
    return st;
  }
  host_present_ = false;
  members_.clear();
  return absl::OkStatus();
}

absl::StatusOr<netfilter::NetnsHandle> FakeBackend::OpenPodNetns(const std::string& netns_path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kOpenPodNetns); !st.ok()) {
    return st;
  }
  auto it = paths_.find(netns_path);
  if (it == paths_.end()) {
    return absl::NotFoundError(absl::StrCat("network namespace ", netns_path, " does not exist"));
  }
  return netfilter::NetnsHandle{nullptr, NetnsId{kFakeDev, it->second}, netns_path};
}

absl::Status FakeBackend::ApplyPod(const netfilter::NetnsHandle& netns,
                                   const netfilter::PodRules& rules,
                                   const netfilter::TableOwner& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kApplyPod); !st.ok()) {
    return st;
  }
  pod_tables_[netns.id.ino] = PodTable{rules, owner, next_handle_++, false};
  return absl::OkStatus();
}

absl::Status FakeBackend::RemovePod(const netfilter::NetnsHandle& netns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kRemovePod); !st.ok()) {
    return st;
  }
  pod_tables_.erase(netns.id.ino);
  return absl::OkStatus();
}

absl::StatusOr<netfilter::PodObservation> FakeBackend::ObservePod(
    const netfilter::NetnsHandle& netns, const netfilter::PodRules& rules) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = TakeInjected(Op::kObservePod); !st.ok()) {
    return st;
  }
  netfilter::PodObservation obs;
  obs.namespace_exists = true;
  auto it = pod_tables_.find(netns.id.ino);
  obs.table_present = it != pod_tables_.end();
  obs.rules_match = obs.table_present && !it->second.edited && it->second.rules == rules;
  if (obs.table_present) {
    obs.owner = it->second.owner;
    obs.table_handle = it->second.handle;
  }
  return obs;
}

void FakeBackend::AddNamespace(const std::string& netns_path) {
  std::lock_guard<std::mutex> lock(mu_);
  paths_[netns_path] = next_namespace_++;
}

void FakeBackend::AliasNamespace(const std::string& alias, const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  paths_[alias] = paths_.at(target);
}

void FakeBackend::DeleteNamespace(const std::string& netns_path) {
  std::lock_guard<std::mutex> lock(mu_);
  paths_.erase(netns_path);
}

void FakeBackend::DeleteHostTable() {
  std::lock_guard<std::mutex> lock(mu_);
  host_present_ = false;
  members_.clear();
}

void FakeBackend::EditHostRules() {
  std::lock_guard<std::mutex> lock(mu_);
  host_rules_match_ = false;
}

void FakeBackend::AddHostMember(const IpAddress& ip, const std::string& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  members_[ip] = owner;
}

void FakeBackend::DeletePodTable(const std::string& netns_path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto ns = paths_.find(netns_path); ns != paths_.end()) {
    pod_tables_.erase(ns->second);
  }
}

void FakeBackend::EditPodTable(const std::string& netns_path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto ns = paths_.find(netns_path);
  if (ns == paths_.end()) {
    return;
  }
  auto it = pod_tables_.find(ns->second);
  if (it != pod_tables_.end()) {
    it->second.edited = true;
  }
}

bool FakeBackend::host_table_present() const {
  std::lock_guard<std::mutex> lock(mu_);
  return host_present_;
}

std::set<IpAddress> FakeBackend::host_members() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<IpAddress> out;
  for (const auto& [ip, owner] : members_) {
    out.insert(ip);
  }
  return out;
}

std::map<IpAddress, std::string> FakeBackend::host_member_owners() const {
  std::lock_guard<std::mutex> lock(mu_);
  return members_;
}

const FakeBackend::PodTable* FakeBackend::TableAtLocked(const std::string& netns_path) const {
  auto ns = paths_.find(netns_path);
  if (ns == paths_.end()) {
    return nullptr;
  }
  auto it = pod_tables_.find(ns->second);
  return it == pod_tables_.end() ? nullptr : &it->second;
}

std::optional<netfilter::TableOwner> FakeBackend::pod_table_owner(
    const std::string& netns_path) const {
  std::lock_guard<std::mutex> lock(mu_);
  const PodTable* t = TableAtLocked(netns_path);
  return t == nullptr ? std::nullopt : std::optional<netfilter::TableOwner>(t->owner);
}

uint64_t FakeBackend::pod_table_handle(const std::string& netns_path) const {
  std::lock_guard<std::mutex> lock(mu_);
  const PodTable* t = TableAtLocked(netns_path);
  return t == nullptr ? 0 : t->handle;
}

std::optional<netfilter::PodRules> FakeBackend::pod_table(const std::string& netns_path) const {
  std::lock_guard<std::mutex> lock(mu_);
  const PodTable* t = TableAtLocked(netns_path);
  return t == nullptr ? std::nullopt : std::optional<netfilter::PodRules>(t->rules);
}

int FakeBackend::pod_table_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(pod_tables_.size());
}

int FakeBackend::calls(Op op) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

int FakeBackend::mutating_calls() const {
  int n = 0;
  for (Op op :
       {Op::kEnsureHost, Op::kUpdateHostMembers, Op::kRemoveHost, Op::kApplyPod, Op::kRemovePod}) {
    n += calls(op);
  }
  return n;
}

}  // namespace probesnat::daemon::testing
