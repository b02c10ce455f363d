#include "integration/harness/kernel_state.h"

#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "integration/harness/topology.h"
#include "nlohmann/json.hpp"
#include "netfilter/rules_spec.h"

namespace probesnat::integration {

absl::StatusOr<std::string> NftTables(const std::string& ns) {
  return CaptureIn(ns, "nft list tables");
}

absl::StatusOr<bool> HasProbesnatTable(const std::string& ns) {
  absl::StatusOr<std::string> tables = NftTables(ns);
  if (!tables.ok()) {
    return tables.status();
  }
  return absl::StrContains(*tables, absl::StrCat(" ", netfilter::kTableName, "\n")) ||
         absl::EndsWith(*tables, absl::StrCat(" ", netfilter::kTableName));
}

std::string NftTableText(const std::string& ns, const std::string& family,
                         const std::string& name) {
  absl::StatusOr<std::string> text =
      CaptureIn(ns, absl::StrCat("nft list table ", family, " ", name, " 2>/dev/null"));
  return text.ok() ? *text : "";
}

bool MentionsAddress(const std::string& text, const std::string& ip) {
  auto is_addr_char = [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':';
  };
  for (size_t pos = text.find(ip); pos != std::string::npos; pos = text.find(ip, pos + 1)) {
    bool left_ok = pos == 0 || !is_addr_char(text[pos - 1]);
    size_t end = pos + ip.size();
    bool right_ok = end >= text.size() || !is_addr_char(text[end]);
    if (left_ok && right_ok) {
      return true;
    }
  }
  return false;
}

std::string ProbesnatTableText(const std::string& ns) {
  return NftTableText(ns, "inet", netfilter::kTableName);
}

std::set<std::string> ParseSetElements(const std::string& nft_text) {
  std::set<std::string> out;
  const std::string kOpen = "elements = {";
  for (size_t pos = nft_text.find(kOpen); pos != std::string::npos;
       pos = nft_text.find(kOpen, pos)) {
    pos += kOpen.size();
    size_t end = nft_text.find('}', pos);
    if (end == std::string::npos) {
      break;
    }
    for (absl::string_view item :
         absl::StrSplit(absl::string_view(nft_text).substr(pos, end - pos), ',')) {
      item = absl::StripAsciiWhitespace(item);
      // An element that carries an owner prints as `10.244.1.10 comment "<uid>"`.
      if (size_t comment = item.find(" comment \""); comment != absl::string_view::npos) {
        item = item.substr(0, comment);
      }
      if (!item.empty()) {
        out.emplace(item);
      }
    }
    pos = end;
  }
  return out;
}

std::set<std::string> ProbesnatSetElements(const std::string& ns) {
  return ParseSetElements(ProbesnatTableText(ns));
}

bool ProbesnatSetHas(const std::string& ns, const std::string& ip) {
  return ProbesnatSetElements(ns).count(ip) > 0;
}

}  // namespace probesnat::integration

namespace probesnat::integration {

absl::Status NftApply(const std::string& ns, const std::string& ruleset) {
  char path[] = "/tmp/psnt-nft-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) {
    return absl::InternalError("mkstemp failed");
  }
  FILE* f = ::fdopen(fd, "w");
  std::fwrite(ruleset.data(), 1, ruleset.size(), f);
  std::fclose(f);
  absl::Status st = RunIn(ns, absl::StrCat("nft -f ", path));
  ::unlink(path);
  return st;
}

std::map<std::string, std::string> SplitTables(const std::string& ruleset) {
  std::map<std::string, std::string> tables;
  std::string current;
  std::string text;
  for (absl::string_view line : absl::StrSplit(ruleset, '\n')) {
    if (current.empty()) {
      if (absl::StartsWith(line, "table ")) {
        absl::string_view header = line;
        absl::ConsumeSuffix(&header, " {");
        current = std::string(header);
        text = absl::StrCat(line, "\n");
      }
      continue;
    }
    absl::StrAppend(&text, line, "\n");
    if (line == "}") {
      tables[current] = text;
      current.clear();
    }
  }
  return tables;
}

absl::StatusOr<std::map<std::string, std::string>> ForeignTables(const std::string& ns) {
  absl::StatusOr<std::string> ruleset = CaptureIn(ns, "nft list ruleset");
  if (!ruleset.ok()) {
    return ruleset.status();
  }
  std::map<std::string, std::string> tables = SplitTables(*ruleset);
  tables.erase(absl::StrCat("table inet ", netfilter::kTableName));
  return tables;
}

}  // namespace probesnat::integration

namespace probesnat::integration {

absl::StatusOr<std::map<std::string, std::string>> ProbesnatHostMembers(const std::string& ns) {
  absl::StatusOr<std::string> text = CaptureIn(
      ns, absl::StrCat("nft -j list table inet ", netfilter::kTableName, " 2>/dev/null || true"));
  if (!text.ok()) {
    return text.status();
  }
  std::map<std::string, std::string> members;
  if (absl::StripAsciiWhitespace(*text).empty()) {
    return members;  // no table
  }
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("nftables") || !doc["nftables"].is_array()) {
    return absl::InternalError(absl::StrCat("nft -j in ", ns, " printed no ruleset: ", *text));
  }
  for (const nlohmann::json& item : doc["nftables"]) {
    if (!item.contains("set")) {
      continue;
    }
    const nlohmann::json& set = item["set"];
    const std::string name = set.value("name", "");
    if (name != "pods_v4" && name != "pods_v6") {
      continue;
    }
    if (!set.contains("elem")) {
      continue;
    }
    for (const nlohmann::json& e : set["elem"]) {
      // A plain element is its value; one with a comment is {"elem": {"val": ..., "comment": ...}}.
      if (e.is_string()) {
        members[e.get<std::string>()] = "";
      } else if (e.is_object() && e.contains("elem") && e["elem"].contains("val") &&
                 e["elem"]["val"].is_string()) {
        members[e["elem"]["val"].get<std::string>()] = e["elem"].value("comment", "");
      } else {
        return absl::InternalError(
            absl::StrCat("unexpected element in set ", name, " in ", ns, ": ", e.dump()));
      }
    }
  }
  return members;
}

ProbesnatTableHead ParseTableHead(const std::string& nft_text) {
  ProbesnatTableHead head;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(nft_text, '\n')) {
    if (first) {
      // table inet probesnat { # handle 7
      if (!absl::StartsWith(line, "table ")) {
        continue;
      }
      first = false;
      head.present = true;
      size_t pos = line.find("# handle ");
      if (pos != absl::string_view::npos) {
        (void)absl::SimpleAtoi(line.substr(pos + 9), &head.handle);
      }
      continue;
    }
    // The table's own comment is the one at the first indentation level.
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "\tcomment \"")) {
      size_t end = rest.rfind('"');
      head.comment = std::string(end == absl::string_view::npos ? rest : rest.substr(0, end));
      break;
    }
    if (absl::StartsWith(line, "\t") && !absl::StartsWith(line, "\tcomment")) {
      break;  // the first chain or set: the comment, if any, comes before them
    }
  }
  return head;
}

absl::StatusOr<std::string> ProbesnatTableTextWithHandles(const std::string& ns) {
  return CaptureIn(
      ns, absl::StrCat("nft -a list table inet ", netfilter::kTableName, " 2>/dev/null || true"));
}

absl::StatusOr<ProbesnatTableHead> ReadProbesnatTableHead(const std::string& ns) {
  absl::StatusOr<std::string> text = ProbesnatTableTextWithHandles(ns);
  if (!text.ok()) {
    return text.status();
  }
  return ParseTableHead(*text);
}

std::string PodTableComment(const std::string& uid, uint64_t generation) {
  return absl::StrCat("probesnat pod ", uid, " generation ", generation);
}

}  // namespace probesnat::integration
