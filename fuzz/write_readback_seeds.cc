// Writes the seed corpus of netlink_readback_fuzzer: the nf_tables messages that describe the
// agent's own pod and host tables (what the kernel answers with when they are read back), as one
// file per table. Usage: write_readback_seeds DIR
#include <fstream>
#include <iostream>
#include <string>

#include "netfilter/nft_batch.h"
#include "netfilter/nft_ruleset.h"

namespace {

bool Write(const std::string& path, probesnat::netfilter::NftTable table) {
  probesnat::netfilter::NftBatch batch(1);
  probesnat::netfilter::AppendReplaceTable(batch, table);
  absl::string_view bytes = batch.Finish();
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_readback_seeds DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = Write(dir + "/pod_table", probesnat::netfilter::BuildPodTable({})) &&
            Write(dir + "/host_table", probesnat::netfilter::BuildHostTable({}));
  return ok ? 0 : 1;
}
