#include "agent/cni/attachment_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/errno_text.h"
#include "base/unique_fd.h"
#include "nlohmann/json.hpp"

namespace probesnat::cni {
namespace {

using json = nlohmann::ordered_json;

constexpr char kSuffix[] = ".json";

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("create state directory ", path, ": ", ec.message()));
  }
  ::chmod(path.c_str(), 0700);
  return absl::OkStatus();
}

json ToJson(const AttachmentRecord& r) {
  return json{{"containerID", r.container_id}, {"ifname", r.ifname}, {"uid", r.uid},
              {"namespace", r.namespace_name}, {"name", r.name},     {"netns", r.netns},
              {"ips", r.ips},                  {"enrolled", r.enrolled}};
}

absl::StatusOr<AttachmentRecord> FromJson(const std::string& path, const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  AttachmentRecord r;
  try {
    if (!doc.is_object()) {
      throw std::runtime_error("not a JSON object");
    }
    r.container_id = doc.at("containerID").get<std::string>();
    r.ifname = doc.at("ifname").get<std::string>();
    r.uid = doc.at("uid").get<std::string>();
    r.namespace_name = doc.at("namespace").get<std::string>();
    r.name = doc.at("name").get<std::string>();
    r.netns = doc.at("netns").get<std::string>();
    r.ips = doc.at("ips").get<std::vector<std::string>>();
    r.enrolled = doc.at("enrolled").get<bool>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("attachment record ", path, ": ", e.what()));
  }
  return r;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InternalError(absl::StrCat("read ", path, ": ", base::ErrnoText(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

AttachmentStore::AttachmentStore(std::string state_dir, std::string network)
    : dir_(absl::StrCat(state_dir, "/", network)) {}

std::string AttachmentStore::FileOf(const std::string& container_id,
                                    const std::string& ifname) const {
  // Container ids are [A-Za-z0-9_.-]; the interface name is hex-encoded so that any name the
  // kernel accepts maps to one safe file name.
  return absl::StrCat(dir_, "/", container_id, "_", absl::BytesToHexString(ifname), kSuffix);
}

absl::Status AttachmentStore::Write(const AttachmentRecord& record) {
  if (absl::Status st = MakeDirs(dir_); !st.ok()) {
    return st;
  }
  const std::string path = FileOf(record.container_id, record.ifname);
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const std::string text = ToJson(record).dump() + "\n";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) {
      return absl::InternalError(absl::StrCat("create ", tmp, ": ", base::ErrnoText(errno)));
    }
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("write ", tmp, ": ", base::ErrnoText(err)));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("rename ", tmp, " to ", path, ": ", base::ErrnoText(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<AttachmentRecord>> AttachmentStore::Read(
    const std::string& container_id, const std::string& ifname) const {
  const std::string path = FileOf(container_id, ifname);
  if (::access(path.c_str(), F_OK) != 0) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    return absl::InternalError(absl::StrCat("access ", path, ": ", base::ErrnoText(errno)));
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return text.status();
  }
  absl::StatusOr<AttachmentRecord> record = FromJson(path, *text);
  if (!record.ok()) {
    return record.status();
  }
  return std::optional<AttachmentRecord>(*std::move(record));
}

absl::Status AttachmentStore::Remove(const std::string& container_id, const std::string& ifname) {
  const std::string path = FileOf(container_id, ifname);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("remove ", path, ": ", base::ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AttachmentRecord>> AttachmentStore::List() const {
  std::vector<AttachmentRecord> out;
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) {
    return out;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string path = entry.path().string();
    if (!absl::EndsWith(path, kSuffix)) {
      continue;  // a temporary file of a write in progress
    }
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) {
      return text.status();
    }
    absl::StatusOr<AttachmentRecord> record = FromJson(path, *text);
    if (!record.ok()) {
      return record.status();
    }
    out.push_back(*std::move(record));
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("list ", dir_, ": ", ec.message()));
  }
  return out;
}

}  // namespace probesnat::cni
