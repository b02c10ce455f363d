#include "agent/daemon/host_membership.h"

#include <algorithm>
#include <iterator>

#include "agent/daemon/log_format.h"
#include "agent/daemon/log_record.h"
#include "agent/daemon/reconciler_internal.h"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {

using reconciler_internal::JoinIps;

HostMembership::HostMembership(netfilter::Backend& backend, const netfilter::HostRules& rules)
    : backend_(backend), rules_(rules) {}

absl::Status HostMembership::EnsureHost() {
  std::lock_guard<std::mutex> lock(mu_);
  return EnsureHostLocked();
}

absl::Status HostMembership::ReplaceRules(const netfilter::HostRules& rules) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = rules;
  return EnsureHostLocked();
}

netfilter::HostRules HostMembership::rules() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rules_;
}

absl::Status HostMembership::EnsureHostLocked() {
  absl::Status st = backend_.EnsureHost(rules_);
  ready_ = st.ok();
  return st;
}

std::vector<IpAddress> HostMembership::Held(const std::string& owner) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(owner);
  return it == held_.end() ? std::vector<IpAddress>{}
                           : std::vector<IpAddress>(it->second.begin(), it->second.end());
}

std::vector<IpAddress> HostMembership::HeldOnlyBy(const std::string& owner) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<IpAddress> out;
  if (auto it = held_.find(owner); it != held_.end()) {
    std::copy_if(it->second.begin(), it->second.end(), std::back_inserter(out),
                 [&](const IpAddress& ip) { return holders_.at(ip) == 1; });
  }
  return out;
}

absl::Status HostMembership::Hold(const std::string& owner, const std::vector<IpAddress>& ips) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<IpAddress>& mine = held_[owner];
  std::vector<IpAddress> add;
  std::vector<IpAddress> newly_mine;
  for (const IpAddress& ip : ips) {
    if (mine.count(ip) != 0) {
      continue;
    }
    newly_mine.push_back(ip);
    if (auto it = holders_.find(ip); it == holders_.end() || it->second == 0) {
      add.push_back(ip);
    }
  }
  if (!add.empty()) {
    std::vector<netfilter::HostMember> members;
    for (const IpAddress& ip : add) {
      members.push_back({ip, owner});
    }
    absl::Status st = backend_.UpdateHostMembers(members, {});
    if (!st.ok()) {
      // Perhaps someone deleted the host table: repair it now rather than at the next drift
      // check, then try once more.
      std::set<std::string> everyone;
      for (const auto& [o, held] : held_) {
        everyone.insert(o);
      }
      HostRepair repair;
      RepairLocked(everyone, nullptr, repair);
      if (repair.repairs > 0) {
        st = backend_.UpdateHostMembers(members, {});
      }
    }
    if (!st.ok()) {
      if (mine.empty()) {
        held_.erase(owner);
      }
      return absl::UnavailableError(absl::StrCat("adding ", JoinIps(add),
                                                 " to the host set failed: ", st.message()));
    }
  }
  for (const IpAddress& ip : newly_mine) {
    mine.insert(ip);
    if (++holders_[ip] == 1) {
      kernel_owner_[ip] = owner;
      ClaimLocked(ip);
    }
  }
  if (mine.empty()) {
    held_.erase(owner);
  }
  return absl::OkStatus();
}

void HostMembership::ClaimLocked(const IpAddress& ip) {
  for (auto it = unclaimed_.begin(); it != unclaimed_.end();) {
    it->second.erase(ip);
    it = it->second.empty() ? unclaimed_.erase(it) : std::next(it);
  }
}

absl::StatusOr<std::vector<IpAddress>> HostMembership::ReleaseUnclaimed(const std::string& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = unclaimed_.find(owner);
  if (it == unclaimed_.end()) {
    return std::vector<IpAddress>{};
  }
  absl::StatusOr<netfilter::HostObservation> host = backend_.ObserveHost(rules_);
  if (!host.ok()) {
    return absl::UnavailableError(
        absl::StrCat("reading the host table back failed: ", host.status().message()));
  }
  // Only what the kernel still names `owner` the owner of, and no pod holds now.
  std::vector<IpAddress> remove;
  for (const netfilter::HostMember& m : host->members) {
    if (m.owner == owner && it->second.count(m.ip) != 0 && holders_.count(m.ip) == 0) {
      remove.push_back(m.ip);
    }
  }
  if (!remove.empty()) {
    if (absl::Status st = backend_.UpdateHostMembers({}, remove); !st.ok()) {
      return absl::UnavailableError(absl::StrCat("removing ", JoinIps(remove),
                                                 " from the host set failed: ", st.message()));
    }
  }
  unclaimed_.erase(it);
  return remove;
}

size_t HostMembership::UnclaimedCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [owner, ips] : unclaimed_) {
    n += ips.size();
  }
  return n;
}

std::string HostMembership::OtherHolderLocked(const IpAddress& ip,
                                              const std::string& owner) const {
  for (const auto& [o, held] : held_) {
    if (o != owner && held.count(ip) != 0) {
      return o;
    }
  }
  return "";
}

absl::Status HostMembership::Keep(const std::string& owner, const std::vector<IpAddress>& ips) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(owner);
  if (it == held_.end()) {
    return absl::OkStatus();
  }
  const std::set<IpAddress> keep(ips.begin(), ips.end());
  std::vector<IpAddress> let_go;
  std::vector<IpAddress> remove;
  std::vector<netfilter::HostMember> pass_on;  // still held by another pod: it becomes the owner
  for (const IpAddress& ip : it->second) {
    if (keep.count(ip) != 0) {
      continue;
    }
    let_go.push_back(ip);
    if (holders_.at(ip) == 1) {
      remove.push_back(ip);
    } else if (kernel_owner_[ip] == owner) {
      pass_on.push_back({ip, OtherHolderLocked(ip, owner)});
    }
  }
  if (!remove.empty() || !pass_on.empty()) {
    if (absl::Status st = backend_.UpdateHostMembers(pass_on, remove); !st.ok()) {
      return absl::UnavailableError(absl::StrCat("removing ", JoinIps(remove),
                                                 " from the host set failed: ", st.message()));
    }
  }
  for (const netfilter::HostMember& m : pass_on) {
    kernel_owner_[m.ip] = m.owner;
  }
  for (const IpAddress& ip : let_go) {
    it->second.erase(ip);
    if (--holders_.at(ip) == 0) {
      holders_.erase(ip);
      kernel_owner_.erase(ip);
    }
  }
  if (it->second.empty()) {
    held_.erase(it);
  }
  return absl::OkStatus();
}

HostRepair HostMembership::Repair(const std::set<std::string>& check_owners,
                                  const std::set<IpAddress>* accounted) {
  std::lock_guard<std::mutex> lock(mu_);
  HostRepair report;
  RepairLocked(check_owners, accounted, report);
  return report;
}

void HostMembership::RepairLocked(const std::set<std::string>& check_owners,
                                  const std::set<IpAddress>* accounted, HostRepair& report) {
  absl::StatusOr<netfilter::HostObservation> host = backend_.ObserveHost(rules_);
  if (!host.ok()) {
    ++report.failures;
    Log(spdlog::level::err, LogRecord("host table check: reading the host table back failed")
                                .Error(host.status().message()));
    return;
  }
  if (!host->table_present || !host->rules_match) {
    if (absl::Status st = EnsureHostLocked(); !st.ok()) {
      ++report.failures;
      Log(spdlog::level::err,
          LogRecord("host table check: re-creating the host table failed").Error(st.message()));
      return;
    }
    ++report.repairs;
    Log(spdlog::level::warn, LogRecord("host table check: host table re-created")
                                 .Word("was", host->table_present ? "edited" : "missing"));
    host = backend_.ObserveHost(rules_);
    if (!host.ok()) {
      ++report.failures;
      return;
    }
  }
  ready_ = true;
  std::set<IpAddress> needed;
  for (const std::string& owner : check_owners) {
    if (auto it = held_.find(owner); it != held_.end()) {
      needed.insert(it->second.begin(), it->second.end());
    }
  }
  std::map<IpAddress, std::string> present;
  for (const netfilter::HostMember& m : host->members) {
    present.emplace(m.ip, m.owner);
  }
  std::vector<netfilter::HostMember> missing;  // absent, or under another owner
  std::vector<IpAddress> missing_ips;
  for (const IpAddress& ip : needed) {
    const std::string& owner = kernel_owner_[ip];
    if (auto p = present.find(ip); p == present.end() || p->second != owner) {
      missing.push_back({ip, owner});
      missing_ips.push_back(ip);
    }
  }
  std::vector<IpAddress> extra;
  if (accounted != nullptr) {
    for (const auto& [ip, owner] : present) {
      if (holders_.count(ip) == 0 && accounted->count(ip) == 0) {
        extra.push_back(ip);
      }
    }
  }
  if (missing.empty() && extra.empty()) {
    return;
  }
  if (absl::Status st = backend_.UpdateHostMembers(missing, extra); !st.ok()) {
    ++report.failures;
    Log(spdlog::level::err,
        LogRecord("host table check: repairing host set members failed").Error(st.message()));
    return;
  }
  for (const IpAddress& ip : extra) {
    ClaimLocked(ip);
  }
  ++report.repairs;
  Log(spdlog::level::warn, LogRecord("host table check: host set repaired")
                               .Text("readded", JoinIps(missing_ips))
                               .Text("removed", JoinIps(extra)));
}

absl::StatusOr<std::vector<IpAddress>> HostMembership::RemoveUnheld(
    const std::set<IpAddress>& accounted) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<netfilter::HostObservation> host = backend_.ObserveHost(rules_);
  if (!host.ok()) {
    return absl::UnavailableError(
        absl::StrCat("reading the host table back failed: ", host.status().message()));
  }
  std::vector<IpAddress> extra;
  if (!host->table_present) {
    return extra;
  }
  for (const netfilter::HostMember& m : host->members) {
    if (holders_.count(m.ip) == 0 && accounted.count(m.ip) == 0) {
      extra.push_back(m.ip);
    }
  }
  if (!extra.empty()) {
    if (absl::Status st = backend_.UpdateHostMembers({}, extra); !st.ok()) {
      return absl::UnavailableError(absl::StrCat("removing unaccounted host set members ",
                                                 JoinIps(extra), " failed: ", st.message()));
    }
  }
  for (const IpAddress& ip : extra) {
    ClaimLocked(ip);
  }
  return extra;
}

absl::StatusOr<HostAdoption> HostMembership::Adopt(
    const std::map<std::string, std::vector<IpAddress>>& holders, bool remove_unheld) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [owner, ips] : holders) {
    for (const IpAddress& ip : ips) {
      if (held_[owner].insert(ip).second && ++holders_[ip] == 1) {
        kernel_owner_[ip] = owner;
      }
    }
  }
  absl::StatusOr<netfilter::HostObservation> host = backend_.ObserveHost(rules_);
  if (!host.ok()) {
    return absl::UnavailableError(
        absl::StrCat("reading the host table back failed: ", host.status().message()));
  }
  HostAdoption report;
  std::map<IpAddress, std::string> present;
  for (const netfilter::HostMember& m : host->members) {
    present.emplace(m.ip, m.owner);
    if (holders_.count(m.ip) == 0) {
      (remove_unheld ? report.removed : report.left).push_back(m);
      if (!remove_unheld && !m.owner.empty()) {
        unclaimed_[m.owner].insert(m.ip);
      }
    }
  }
  std::vector<netfilter::HostMember> write;
  for (const auto& [ip, owner] : kernel_owner_) {
    if (auto p = present.find(ip); p != present.end() && p->second == owner) {
      ++report.kept;
    } else {
      write.push_back({ip, owner});
    }
  }
  std::vector<IpAddress> remove;
  for (const netfilter::HostMember& m : report.removed) {
    remove.push_back(m.ip);
  }
  if (!write.empty() || !remove.empty()) {
    if (absl::Status st = backend_.UpdateHostMembers(write, remove); !st.ok()) {
      return absl::UnavailableError(
          absl::StrCat("re-adopting the host set members failed: ", st.message()));
    }
  }
  report.written = static_cast<int>(write.size());
  return report;
}

absl::Status HostMembership::RemoveHost() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status st = backend_.RemoveHost();
  ready_ = false;
  return st;
}

}  // namespace probesnat::daemon
