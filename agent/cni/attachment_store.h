#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace probesnat::cni {

// What probesnat-cni did for one attachment (container id + interface), kept on the node so that
// DEL and GC know which pod uid they concern even when the runtime passes no CNI_ARGS, and so
// that GC only ever removes enrollments this plugin made.
struct AttachmentRecord {
  std::string container_id;
  std::string ifname;
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::string netns;
  std::vector<std::string> ips;
  // false when ADD let the pod start without enrollment (failOpen with the agent down).
  bool enrolled = true;
};

// Records under <state dir>/<network name>/, one file per attachment, each written atomically
// (temporary file + rename). Directories are created 0700.
class AttachmentStore {
 public:
  AttachmentStore(std::string state_dir, std::string network);

  absl::Status Write(const AttachmentRecord& record);
  // nullopt when there is none.
  absl::StatusOr<std::optional<AttachmentRecord>> Read(const std::string& container_id,
                                                       const std::string& ifname) const;
  // Succeeds when there is none.
  absl::Status Remove(const std::string& container_id, const std::string& ifname);
  // Every record of this network; unreadable files are reported in the error, not skipped.
  absl::StatusOr<std::vector<AttachmentRecord>> List() const;

  const std::string& dir() const { return dir_; }

 private:
  std::string FileOf(const std::string& container_id, const std::string& ifname) const;
  std::string dir_;
};

}  // namespace probesnat::cni
