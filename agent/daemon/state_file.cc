#include "agent/daemon/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/crc32c.h"
#include "base/errno_text.h"
#include "base/port.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace probesnat::daemon {
namespace {

using json = nlohmann::json;
using base::ErrnoText;

constexpr size_t kCompactionFloorBytes = 64 << 10;
// Live records beyond this are refused, so that the file, which may grow to 4 × its live records
// before compaction (but never past kMaxFileBytes minus two records), stays readable.
constexpr size_t kMaxLiveBytes = 48 << 20;
constexpr size_t kMaxProblemsListed = 20;
// "<8 hex> <up to 7 digits> " before the payload: kMaxRecordBytes has 7 decimal digits.
constexpr size_t kCrcDigits = 8;
constexpr size_t kMaxLengthDigits = 7;

// A JSON value for a message, cut short: a record may be up to kMaxRecordBytes.
std::string Shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= 64 ? text : absl::StrCat(text.substr(0, 64), "...");
}

// ---- Framing ------------------------------------------------------------------------------------

std::string Frame(const std::string& payload) {
  return absl::StrCat(absl::Hex(Crc32c(payload), absl::kZeroPad8), " ", payload.size(), " ",
                      payload, "\n");
}

const std::string& HeaderRecord() {
  static const std::string kHeader =
      Frame(json{{"magic", StateFile::kMagic}, {"version", StateFile::kVersion}}.dump());
  return kHeader;
}

bool IsLowerHex(char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'); }

// Whether `tail` (the end of the file, with no newline) can be the beginning of a record whose
// append was cut short, or the zeros a file system leaves where an unfinished append's data never
// reached the disk.
bool IsTornAppend(absl::string_view tail) {
  if (std::all_of(tail.begin(), tail.end(), [](char c) { return c == '\0'; })) {
    return true;
  }
  size_t i = 0;
  for (; i < tail.size() && i < kCrcDigits; ++i) {
    if (!IsLowerHex(tail[i])) {
      return false;
    }
  }
  if (i == tail.size()) {
    return true;
  }
  if (tail[i++] != ' ') {
    return false;
  }
  size_t digits_start = i;
  for (; i < tail.size() && absl::ascii_isdigit(tail[i]); ++i) {
    if (i - digits_start >= kMaxLengthDigits) {
      return false;
    }
  }
  if (i == tail.size()) {
    return true;
  }
  size_t length = 0;
  if (i == digits_start || tail[i] != ' ' ||
      !absl::SimpleAtoi(tail.substr(digits_start, i - digits_start), &length) ||
      length > StateFile::kMaxRecordBytes) {
    return false;
  }
  // The payload and its newline were not all written.
  return tail.size() - (i + 1) <= length;
}

// The payload of one line (without its newline), or what is wrong with the line.
absl::StatusOr<absl::string_view> Unframe(absl::string_view line) {
  if (line.size() < kCrcDigits + 4 || line[kCrcDigits] != ' ' ||
      !std::all_of(line.begin(), line.begin() + kCrcDigits, IsLowerHex)) {
    return absl::DataLossError("not a record (no checksum)");
  }
  uint32_t crc = 0;
  absl::SimpleHexAtoi(line.substr(0, kCrcDigits), &crc);
  size_t digits_start = kCrcDigits + 1;
  size_t space = line.find(' ', digits_start);
  if (space == absl::string_view::npos || space == digits_start ||
      space - digits_start > kMaxLengthDigits + 1) {
    return absl::DataLossError("not a record (no length)");
  }
  absl::string_view digits = line.substr(digits_start, space - digits_start);
  size_t length = 0;
  if (!std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(digits, &length)) {
    return absl::DataLossError("not a record (no length)");
  }
  if (length > StateFile::kMaxRecordBytes) {
    return absl::DataLossError(absl::StrCat("length ", digits, " is beyond the limit of ",
                                            StateFile::kMaxRecordBytes, " bytes"));
  }
  absl::string_view payload = line.substr(space + 1);
  if (payload.size() != length) {
    return absl::DataLossError(
        absl::StrCat("length says ", length, " bytes, the record has ", payload.size()));
  }
  if (Crc32c(payload) != crc) {
    return absl::DataLossError("checksum mismatch");
  }
  return payload;
}

// ---- Pods as JSON -------------------------------------------------------------------------------

// Whether `s` is well-formed UTF-8 (what JSON text must be): no overlong forms, surrogates or
// code points beyond U+10FFFF.
bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t more = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      more = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      more = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      more = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= more) {
      return false;
    }
    for (size_t k = 1; k <= more; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kSmallest[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += more + 1;
  }
  return true;
}

json PodToJson(const agent::PodSpec& spec) {
  json ips = json::array();
  for (const IpAddress& ip : spec.ips) {
    ips.push_back(ip.ToString());
  }
  json ports = json::array();
  for (const agent::ContainerPort& p : spec.container_ports) {
    ports.push_back({{"name", p.name},
                     {"port", p.port},
                     {"protocol", std::string(agent::ProtocolName(p.protocol))}});
  }
  json pod = {{"uid", spec.uid},
              {"namespace", spec.ns},
              {"name", spec.name},
              {"labels", spec.labels},
              {"ips", std::move(ips)},
              {"container_ports", std::move(ports)},
              {"probe_ports", spec.probe_ports},
              {"overrides",
               {{"disable_inbound_capture", spec.overrides.disable_inbound_capture},
                {"disable_outbound_capture", spec.overrides.disable_outbound_capture}}}};
  // A path is bytes, not necessarily UTF-8; it must come back exactly.
  if (IsUtf8(spec.netns_path)) {
    pod["netns_path"] = spec.netns_path;
  } else {
    pod["netns_path_hex"] = absl::BytesToHexString(spec.netns_path);
  }
  return pod;
}

// What is wrong with a record, thrown inside the decoders and caught at their boundary.
struct BadRecord {
  std::string what;
};

const json& Member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) {
    throw BadRecord{absl::StrCat("no \"", key, "\"")};
  }
  return *it;
}

std::string StringMember(const json& object, const char* key) {
  const json& v = Member(object, key);
  if (!v.is_string()) {
    throw BadRecord{absl::StrCat("\"", key, "\" is not a string")};
  }
  return v.get<std::string>();
}

bool BoolMember(const json& object, const char* key) {
  const json& v = Member(object, key);
  if (!v.is_boolean()) {
    throw BadRecord{absl::StrCat("\"", key, "\" is not a boolean")};
  }
  return v.get<bool>();
}

uint64_t UnsignedMember(const json& object, const char* key) {
  const json& v = Member(object, key);
  if (!v.is_number_unsigned()) {
    throw BadRecord{absl::StrCat("\"", key, "\" is not an unsigned number")};
  }
  return v.get<uint64_t>();
}

uint16_t PortValue(const json& v, const char* what) {
  if (!v.is_number_unsigned() ||
      !IsPort(static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), kMaxPort + 1)))) {
    throw BadRecord{absl::StrCat(what, " is not a port 1-65535")};
  }
  return static_cast<uint16_t>(v.get<uint64_t>());
}

const json& ArrayMember(const json& object, const char* key) {
  const json& v = Member(object, key);
  if (!v.is_array()) {
    throw BadRecord{absl::StrCat("\"", key, "\" is not an array")};
  }
  return v;
}

const json& ObjectMember(const json& object, const char* key) {
  const json& v = Member(object, key);
  if (!v.is_object()) {
    throw BadRecord{absl::StrCat("\"", key, "\" is not an object")};
  }
  return v;
}

bool HasControlCharacter(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return absl::ascii_iscntrl(c); });
}

// What a pod must satisfy to be journaled, and to be read back: the API's validation goes much
// further, so a pod it passed always does. Empty if nothing is wrong.
std::string WhatIsWrongWith(const agent::PodSpec& spec) {
  if (spec.uid.empty() || spec.ns.empty() || spec.name.empty()) {
    return "pod uid, namespace or name is empty";
  }
  if (HasControlCharacter(spec.uid) || HasControlCharacter(spec.ns) ||
      HasControlCharacter(spec.name)) {
    return "pod uid, namespace or name has a control character";
  }
  if (spec.ips.empty() || spec.ips.size() > 2 ||
      (spec.ips.size() == 2 && spec.ips[0].family() == spec.ips[1].family())) {
    return "pod ips are not one or two addresses of different families";
  }
  if (spec.netns_path.empty() || spec.netns_path.front() != '/' ||
      spec.netns_path.find('\0') != std::string::npos) {
    return "pod netns_path is not an absolute path";
  }
  for (const agent::ContainerPort& p : spec.container_ports) {
    if (!IsPort(p.port)) {
      return "a container port is not a port 1-65535";
    }
  }
  for (uint16_t p : spec.probe_ports) {
    if (!IsPort(p)) {
      return "a probe port is not a port 1-65535";
    }
  }
  return "";
}

// The spec of a put record, checked as far as a record written by this agent must satisfy (the
// full rules are the API's validation, which the pod passed before it was journaled).
agent::PodSpec PodFromJson(const json& pod) {
  if (!pod.is_object()) {
    throw BadRecord{"\"pod\" is not an object"};
  }
  agent::PodSpec spec;
  spec.uid = StringMember(pod, "uid");
  spec.ns = StringMember(pod, "namespace");
  spec.name = StringMember(pod, "name");
  for (const auto& [key, value] : ObjectMember(pod, "labels").items()) {
    if (!value.is_string()) {
      throw BadRecord{"a label value is not a string"};
    }
    spec.labels.emplace(key, value.get<std::string>());
  }
  for (const json& text : ArrayMember(pod, "ips")) {
    absl::StatusOr<IpAddress> ip =
        text.is_string() ? IpAddress::Parse(text.get<std::string>())
                         : absl::StatusOr<IpAddress>(absl::InvalidArgumentError("not a string"));
    if (!ip.ok()) {
      throw BadRecord{absl::StrCat("pod ip ", Shown(text), " is not an IP address")};
    }
    spec.ips.push_back(*ip);
  }
  std::sort(spec.ips.begin(), spec.ips.end());
  if (pod.contains("netns_path_hex")) {
    std::string hex = StringMember(pod, "netns_path_hex");
    if (hex.size() % 2 != 0 || !std::all_of(hex.begin(), hex.end(), absl::ascii_isxdigit)) {
      throw BadRecord{"\"netns_path_hex\" is not hex"};
    }
    spec.netns_path = absl::HexStringToBytes(hex);
  } else {
    spec.netns_path = StringMember(pod, "netns_path");
  }
  for (const json& p : ArrayMember(pod, "container_ports")) {
    if (!p.is_object()) {
      throw BadRecord{"a container port is not an object"};
    }
    agent::ContainerPort port;
    port.name = StringMember(p, "name");
    port.port = PortValue(Member(p, "port"), "a container port");
    std::optional<agent::Protocol> protocol = agent::ParseProtocol(StringMember(p, "protocol"));
    if (!protocol) {
      throw BadRecord{"a container port's protocol is not TCP, UDP or SCTP"};
    }
    port.protocol = *protocol;
    spec.container_ports.push_back(std::move(port));
  }
  for (const json& p : ArrayMember(pod, "probe_ports")) {
    spec.probe_ports.push_back(PortValue(p, "a probe port"));
  }
  const json& overrides = ObjectMember(pod, "overrides");
  spec.overrides.disable_inbound_capture = BoolMember(overrides, "disable_inbound_capture");
  spec.overrides.disable_outbound_capture = BoolMember(overrides, "disable_outbound_capture");
  if (std::string wrong = WhatIsWrongWith(spec); !wrong.empty()) {
    throw BadRecord{wrong};
  }
  return spec;
}

// One decoded journal record after the header.
struct Operation {
  std::optional<JournaledPod> put;  // else an erase of `erased_uid`
  std::string erased_uid;
};

absl::StatusOr<Operation> DecodeOperation(const json& record) {
  try {
    std::string op = StringMember(record, "op");
    Operation out;
    if (op == "put") {
      JournaledPod pod;
      pod.spec = PodFromJson(Member(record, "pod"));
      pod.generation = UnsignedMember(record, "generation");
      const json& netns = ObjectMember(record, "netns");
      pod.netns.dev = UnsignedMember(netns, "dev");
      pod.netns.ino = UnsignedMember(netns, "ino");
      pod.removing = BoolMember(record, "removing");
      out.put = std::move(pod);
    } else if (op == "erase") {
      out.erased_uid = StringMember(record, "uid");
      if (out.erased_uid.empty()) {
        throw BadRecord{"erase of an empty uid"};
      }
    } else {
      throw BadRecord{absl::StrCat("unknown op ", Shown(Member(record, "op")))};
    }
    return out;
  } catch (const BadRecord& bad) {
    return absl::DataLossError(bad.what);
  } catch (const std::exception& e) {  // nlohmann::json's, should a check above miss a case
    return absl::DataLossError(e.what());
  }
}

// ---- The file's contents ------------------------------------------------------------------------

class Reader {
 public:
  explicit Reader(LoadedState& state) : state_(state) {}

  void Problem(std::string text) {
    state_.trustworthy = false;
    if (state_.problems.size() < kMaxProblemsListed) {
      state_.problems.push_back(std::move(text));
    } else {
      ++unlisted_;
    }
  }

  // Applies every record of `data` in order.
  void Parse(absl::string_view data) {
    size_t offset = 0;
    int number = 0;
    bool header_seen = false;
    bool unreadable_line = false;
    while (offset < data.size()) {
      ++number;
      absl::string_view rest = data.substr(offset);
      std::string where = absl::StrCat("record ", number, " at byte ", offset);
      size_t newline = rest.find('\n');
      if (newline == absl::string_view::npos) {
        if (IsTornAppend(rest)) {
          state_.warnings.push_back(absl::StrCat(where, ": incomplete (", rest.size(),
                                                 " bytes, an append cut short), dropped"));
        } else {
          Problem(absl::StrCat(where, ": ", rest.size(), " bytes that are not a record"));
        }
        break;
      }
      offset += newline + 1;
      absl::StatusOr<absl::string_view> payload = Unframe(rest.substr(0, newline));
      if (!payload.ok()) {
        Problem(absl::StrCat(where, ": ", payload.status().message()));
        unreadable_line = true;
        continue;
      }
      json record = json::parse(payload->begin(), payload->end(), nullptr, false);
      if (record.is_discarded() || !record.is_object()) {
        Problem(absl::StrCat(where, ": not a JSON object"));
        unreadable_line = true;
        continue;
      }
      // The first record is the header; if it was unreadable, what follows is taken as records.
      if (!header_seen && (!unreadable_line || record.contains("magic"))) {
        header_seen = true;
        auto magic = record.find("magic");
        if (magic == record.end() || *magic != StateFile::kMagic) {
          Problem(absl::StrCat(where, ": not a probesnat state file (no \"magic\": \"",
                               StateFile::kMagic, "\" header)"));
          break;
        }
        auto version = record.find("version");
        if (version == record.end() || *version != StateFile::kVersion) {
          Problem(absl::StrCat(where, ": format version ",
                               version == record.end() ? "missing" : Shown(*version),
                               ", this agent reads version ", StateFile::kVersion));
          break;
        }
        continue;
      }
      header_seen = true;
      absl::StatusOr<Operation> op = DecodeOperation(record);
      if (!op.ok()) {
        Problem(absl::StrCat(where, ": ", op.status().message()));
        continue;
      }
      if (op->put) {
        std::string uid = op->put->spec.uid;
        pods_[uid] = *std::move(op->put);
      } else {
        pods_.erase(op->erased_uid);
      }
    }
    if (unlisted_ > 0) {
      state_.problems.push_back(absl::StrCat("... and ", unlisted_, " more"));
    }
    for (auto& [uid, pod] : pods_) {
      state_.pods.push_back(std::move(pod));
    }
  }

 private:
  LoadedState& state_;
  std::map<std::string, JournaledPod> pods_;
  size_t unlisted_ = 0;
};

// The bytes at `path` (at most kMaxFileBytes), or nullopt when there is nothing to read there.
std::optional<std::string> ReadContents(const std::string& path, Reader& reader,
                                        LoadedState& state) {
  // O_NONBLOCK: a FIFO put at the path must not block the start.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    state.existed = true;
    reader.Problem(absl::StrCat("unreadable: ", ErrnoText()));
    return std::nullopt;
  }
  state.existed = true;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    reader.Problem(absl::StrCat("unreadable: ", ErrnoText()));
    return std::nullopt;
  }
  if (S_ISDIR(st.st_mode)) {
    reader.Problem(absl::StrCat("unreadable: ", ErrnoText(EISDIR)));
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    reader.Problem("unreadable: not a regular file");
    return std::nullopt;
  }
  size_t limit = StateFile::kMaxFileBytes;
  if (static_cast<uint64_t>(st.st_size) > limit) {
    reader.Problem(absl::StrCat("larger than the limit of ", limit, " bytes (", st.st_size,
                                " bytes); only its beginning was read"));
  }
  std::string data(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), limit), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      reader.Problem(absl::StrCat("unreadable at byte ", got, ": ", ErrnoText()));
      break;
    }
    if (n == 0) {
      break;  // it shrank meanwhile
    }
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

// ---- Writing ------------------------------------------------------------------------------------

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", ErrnoText()));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string DirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// Makes a rename in the directory of `path` durable.
absl::Status SyncDirectoryOf(const std::string& path) {
  std::string dir = DirectoryOf(path);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot sync directory ", dir, ": ", ErrnoText()));
  }
  return absl::OkStatus();
}

struct FreshFile {
  UniqueFd fd;  // open for appends
  size_t bytes = 0;
};

// Replaces the file at `path` by one holding the header and `records`, through a temporary file
// beside it. The rename is not yet durable: the caller syncs the directory.
absl::StatusOr<FreshFile> WriteFresh(const std::string& path,
                                     const std::map<std::string, std::string>& records) {
  const std::string temp = path + ".tmp";
  FreshFile out;
  out.fd.reset(
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!out.fd.valid()) {
    return absl::UnavailableError(
        absl::StrCat("cannot create state file ", temp, ": ", ErrnoText()));
  }
  std::string content = HeaderRecord();
  for (const auto& [uid, record] : records) {
    content += record;
  }
  absl::Status st = WriteAll(out.fd.get(), content, temp);
  if (st.ok() && ::fsync(out.fd.get()) != 0) {
    st = absl::UnavailableError(absl::StrCat("cannot sync ", temp, ": ", ErrnoText()));
  }
  if (st.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    st = absl::UnavailableError(
        absl::StrCat("cannot rename ", temp, " to ", path, ": ", ErrnoText()));
  }
  if (!st.ok()) {
    ::unlink(temp.c_str());
    return st;
  }
  out.bytes = content.size();
  return out;
}

// Moves whatever is at `path` (a file, a directory) to `damaged`, replacing what was there.
absl::Status MoveAside(const std::string& path, const std::string& damaged) {
  if (::rename(path.c_str(), damaged.c_str()) == 0) {
    return absl::OkStatus();
  }
  int err = errno;
  if (err == EISDIR || err == ENOTDIR || err == ENOTEMPTY || err == EEXIST) {
    // A directory cannot replace a file, nor a file a directory, nor anything a non-empty one.
    struct stat st {};
    bool removed =
        ::lstat(damaged.c_str(), &st) == 0 &&
        (S_ISDIR(st.st_mode) ? ::rmdir(damaged.c_str()) : ::unlink(damaged.c_str())) == 0;
    if (removed && ::rename(path.c_str(), damaged.c_str()) == 0) {
      return absl::OkStatus();
    }
    err = errno;
  }
  return absl::FailedPreconditionError(absl::StrCat("cannot move the damaged state file ", path,
                                                    " aside to ", damaged, ": ", ErrnoText(err)));
}

}  // namespace

std::string StateFile::EncodePut(const JournaledPod& pod) {
  json record = {{"op", "put"},
                 {"pod", PodToJson(pod.spec)},
                 {"generation", pod.generation},
                 {"netns", {{"dev", pod.netns.dev}, {"ino", pod.netns.ino}}},
                 {"removing", pod.removing}};
  // Strings other than the path are validated printable ASCII; `replace` only keeps dump() from
  // throwing should one not be.
  return Frame(record.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string StateFile::EncodeErase(const std::string& uid) {
  return Frame(
      json{{"op", "erase"}, {"uid", uid}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

LoadedState StateFile::Read(const std::string& path) {
  LoadedState state;
  Reader reader(state);
  std::optional<std::string> data = ReadContents(path, reader, state);
  if (!data) {
    return state;
  }
  if (data->empty()) {
    if (state.trustworthy) {
      state.warnings.push_back("empty (0 bytes): no header, taken as no pods");
    }
    return state;
  }
  reader.Parse(*data);
  return state;
}

absl::StatusOr<std::unique_ptr<StateFile>> StateFile::Open(const std::string& path,
                                                           LoadedState* loaded) {
  LoadedState state = Read(path);
  if (state.existed && !state.trustworthy) {
    std::string damaged = path + ".damaged";
    if (absl::Status st = MoveAside(path, damaged); !st.ok()) {
      if (loaded != nullptr) {
        *loaded = std::move(state);
      }
      return st;
    }
    state.damaged_path = damaged;
  }
  std::map<std::string, std::string> live;
  for (const JournaledPod& pod : state.pods) {
    live.emplace(pod.spec.uid, EncodePut(pod));
  }
  if (loaded != nullptr) {
    *loaded = std::move(state);
  }
  absl::StatusOr<FreshFile> fresh = WriteFresh(path, live);
  if (!fresh.ok()) {
    return fresh.status();
  }
  if (absl::Status st = SyncDirectoryOf(path); !st.ok()) {
    return st;
  }
  return std::unique_ptr<StateFile>(
      new StateFile(path, std::move(fresh->fd), std::move(live), fresh->bytes));
}

StateFile::StateFile(std::string path, UniqueFd fd, std::map<std::string, std::string> live,
                     size_t file_bytes)
    : path_(std::move(path)), fd_(std::move(fd)), live_(std::move(live)), file_bytes_(file_bytes) {
  for (const auto& [uid, record] : live_) {
    live_bytes_ += record.size();
  }
}

size_t StateFile::file_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return file_bytes_;
}

int StateFile::compactions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return compactions_;
}

absl::Status StateFile::Put(const JournaledPod& pod) {
  // A record that Open would refuse must not be written: it would discredit the whole file.
  if (std::string wrong = WhatIsWrongWith(pod.spec); !wrong.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod ", pod.spec.DisplayName(), " cannot be journaled: ", wrong));
  }
  std::string record = EncodePut(pod);
  if (record.size() > kMaxRecordBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("pod ", pod.spec.uid, " is ", record.size(),
                     " bytes as a state file record, beyond the limit of ", kMaxRecordBytes));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto old = live_.find(pod.spec.uid);
  size_t live_after = live_bytes_ + record.size() - (old == live_.end() ? 0 : old->second.size());
  if (live_after > kMaxLiveBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("state file ", path_, " would hold ", live_after,
                     " bytes of pods, beyond the limit of ", kMaxLiveBytes));
  }
  if (absl::Status st = Append(record); !st.ok()) {
    return st;
  }
  live_bytes_ = live_after;
  live_[pod.spec.uid] = std::move(record);
  if (CompactionDue()) {
    if (absl::Status st = Compact(); !st.ok()) {
      // The record is durable; the file is only larger than it needs to be. Retried next time.
      spdlog::warn("state file compaction failed: {}", std::string(st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status StateFile::Erase(const std::string& uid) {
  std::string record = EncodeErase(uid);
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = Append(record); !st.ok()) {
    return st;
  }
  if (auto it = live_.find(uid); it != live_.end()) {
    live_bytes_ -= it->second.size();
    live_.erase(it);
  }
  if (CompactionDue()) {
    if (absl::Status st = Compact(); !st.ok()) {
      spdlog::warn("state file compaction failed: {}", std::string(st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status StateFile::Append(const std::string& record) {
  if (rewrite_needed_) {
    if (absl::Status st = Compact(); !st.ok()) {
      return st;
    }
  }
  absl::Status st = WriteAll(fd_.get(), record, path_);
  if (st.ok() && ::fdatasync(fd_.get()) != 0) {
    // What reached the disk is unknown now: only a rewrite makes the file certain again.
    rewrite_needed_ = true;
    return absl::UnavailableError(absl::StrCat("cannot sync ", path_, ": ", ErrnoText()));
  }
  if (!st.ok()) {
    // Cut off what part of the record was written, so the next append does not follow garbage.
    if (::ftruncate(fd_.get(), static_cast<off_t>(file_bytes_)) != 0) {
      rewrite_needed_ = true;
    }
    return st;
  }
  file_bytes_ += record.size();
  return absl::OkStatus();
}

bool StateFile::CompactionDue() const {
  size_t live_file = HeaderRecord().size() + live_bytes_;
  size_t limit =
      std::min(std::max(kCompactionFloorBytes, 4 * live_file), kMaxFileBytes - 2 * kMaxRecordBytes);
  return file_bytes_ > limit;
}

absl::Status StateFile::Compact() {
  absl::StatusOr<FreshFile> fresh = WriteFresh(path_, live_);
  if (!fresh.ok()) {
    return fresh.status();
  }
  // From here on the path names the fresh file: appends must go there whatever happens next.
  fd_ = std::move(fresh->fd);
  file_bytes_ = fresh->bytes;
  ++compactions_;
  rewrite_needed_ = false;
  if (absl::Status st = SyncDirectoryOf(path_); !st.ok()) {
    rewrite_needed_ = true;
    return st;
  }
  return absl::OkStatus();
}

}  // namespace probesnat::daemon
