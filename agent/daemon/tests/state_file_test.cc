#include "agent/daemon/state_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace probesnat::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace fs = std::filesystem;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

JournaledPod MakePod(const std::string& uid, int n = 1) {
  JournaledPod pod;
  pod.spec.uid = uid;
  pod.spec.ns = "default";
  pod.spec.name = "pod-" + uid;
  pod.spec.ips = {Ip(absl::StrCat("10.0.", n / 256 % 256, ".", n % 256).c_str())};
  pod.spec.netns_path = "/run/netns/cni-" + uid;
  pod.generation = 1;
  pod.netns = {7, static_cast<uint64_t>(1000 + n)};
  return pod;
}

// A pod with every field set to something other than its default.
JournaledPod FullPod() {
  JournaledPod pod;
  pod.spec.uid = "0b6c7f8e-1111-4e2a-9a5e-123456789abc";
  pod.spec.ns = "shop";
  pod.spec.name = "cart-7d9f";
  pod.spec.labels = {{"app", "cart"}, {"example.com/tier", "backend"}, {"empty", ""}};
  pod.spec.ips = {Ip("10.1.2.3"), Ip("fd00::abcd")};
  pod.spec.netns_path = "/proc/4242/ns/net";
  pod.spec.container_ports = {{"http", 8080, agent::Protocol::kTCP},
                              {"", 53, agent::Protocol::kUDP},
                              {"sig", 9999, agent::Protocol::kSCTP}};
  pod.spec.probe_ports = {8080, 65535, 1};
  pod.spec.overrides.disable_inbound_capture = true;
  pod.spec.overrides.disable_outbound_capture = true;
  pod.generation = 18446744073709551615ull;
  pod.netns = {18446744073709551615ull, 4026532001};
  pod.removing = true;
  return pod;
}

// A record framed as the format says, with a bit-by-bit CRC-32C (independent of base/crc32c), for
// payloads the encoder would never write.
std::string FrameByHand(const std::string& payload) {
  uint32_t c = ~0u;
  for (unsigned char ch : payload) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
  }
  char hex[9];
  snprintf(hex, sizeof(hex), "%08x", ~c);
  return absl::StrCat(hex, " ", payload.size(), " ", payload, "\n");
}

std::string ReadAll(const std::string& path) {
  std::stringstream s;
  s << std::ifstream(path, std::ios::binary).rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

class StateFileTest : public ::testing::Test {
 protected:
  // Where the test's directory is made: the temporary directory, on a disk here, so that fsync
  // is real.
  virtual fs::path Parent() { return fs::temp_directory_path(); }

  void SetUp() override {
    std::string templ = (Parent() / "state_file_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ + "/state";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<StateFile> OpenOk(LoadedState* loaded) {
    absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path_, loaded);
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? *std::move(file) : nullptr;
  }

  // Writes `pods` through a StateFile and closes it.
  void Journal(const std::vector<JournaledPod>& pods) {
    LoadedState loaded;
    std::unique_ptr<StateFile> file = OpenOk(&loaded);
    ASSERT_NE(file, nullptr);
    for (const JournaledPod& pod : pods) {
      ASSERT_TRUE(file->Put(pod).ok());
    }
  }

  std::vector<std::string> Uids(const LoadedState& loaded) {
    std::vector<std::string> uids;
    for (const JournaledPod& pod : loaded.pods) {
      uids.push_back(pod.spec.uid);
    }
    return uids;
  }

  std::string dir_;
  std::string path_;
};

// For the tests of thousands of Puts: on tmpfs where there is one, since on a disk each Put waits
// for fdatasync (up to milliseconds while other jobs write).
class ManyPutsTest : public StateFileTest {
 protected:
  fs::path Parent() override {
    std::error_code ec;
    return fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
               ? fs::path("/dev/shm")
               : StateFileTest::Parent();
  }
};

TEST_F(StateFileTest, NoFileIsAnEmptyTrustworthyState) {
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_FALSE(loaded.existed);
  EXPECT_TRUE(loaded.trustworthy);
  EXPECT_THAT(loaded.pods, IsEmpty());
  EXPECT_THAT(loaded.problems, IsEmpty());
  EXPECT_THAT(loaded.warnings, IsEmpty());
  // The fresh file exists at once, with only its header.
  EXPECT_THAT(ReadAll(path_), HasSubstr("\"magic\":\"probesnat-state\""));
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST_F(StateFileTest, EveryFieldRoundTrips) {
  JournaledPod full = FullPod();
  // A path that is not UTF-8 comes back byte for byte.
  JournaledPod odd = MakePod("odd");
  odd.spec.netns_path = "/run/netns/\xff\xfe-\xc3\xa9";
  Journal({full, odd});
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_TRUE(loaded.existed);
  EXPECT_TRUE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems, IsEmpty());
  EXPECT_THAT(loaded.warnings, IsEmpty());
  ASSERT_EQ(loaded.pods.size(), 2u);
  EXPECT_EQ(loaded.pods[0], full);
  EXPECT_EQ(loaded.pods[1], odd);
}

TEST_F(StateFileTest, IpsAreKeptSorted) {
  JournaledPod pod = MakePod("a");
  pod.spec.ips = {Ip("fd00::1"), Ip("10.0.0.9")};
  WriteAll(path_, "");
  {
    LoadedState loaded;
    std::unique_ptr<StateFile> file = OpenOk(&loaded);
    ASSERT_TRUE(file->Put(pod).ok());
  }
  LoadedState loaded = StateFile::Read(path_);
  ASSERT_EQ(loaded.pods.size(), 1u);
  EXPECT_THAT(loaded.pods[0].spec.ips, ElementsAre(Ip("10.0.0.9"), Ip("fd00::1")));
}

TEST_F(StateFileTest, EraseDropsThePodAndUnknownUidsAreHarmless) {
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  ASSERT_TRUE(file->Put(MakePod("a", 1)).ok());
  ASSERT_TRUE(file->Put(MakePod("b", 2)).ok());
  ASSERT_TRUE(file->Erase("a").ok());
  ASSERT_TRUE(file->Erase("never-there").ok());
  // Read back while the file is still open: each call is on disk when it returns.
  LoadedState now = StateFile::Read(path_);
  EXPECT_TRUE(now.trustworthy);
  EXPECT_THAT(Uids(now), ElementsAre("b"));
  file.reset();
  LoadedState reopened;
  file = OpenOk(&reopened);
  EXPECT_THAT(Uids(reopened), ElementsAre("b"));
}

TEST_F(ManyPutsTest, ReopenKeepsTheLatestRecordOfEachPod) {
  {
    LoadedState loaded;
    std::unique_ptr<StateFile> file = OpenOk(&loaded);
    for (int g = 1; g <= 50; ++g) {
      for (int p = 0; p < 20; ++p) {
        JournaledPod pod = MakePod(absl::StrCat("pod-", p), p);
        pod.generation = g;
        pod.removing = g == 50 && p == 3;
        ASSERT_TRUE(file->Put(pod).ok());
      }
    }
  }
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  ASSERT_TRUE(loaded.trustworthy);
  ASSERT_EQ(loaded.pods.size(), 20u);
  for (const JournaledPod& pod : loaded.pods) {
    EXPECT_EQ(pod.generation, 50u) << pod.spec.uid;
    EXPECT_EQ(pod.removing, pod.spec.uid == "pod-3");
  }
  // Sorted by uid.
  EXPECT_EQ(loaded.pods.front().spec.uid, "pod-0");
  EXPECT_EQ(loaded.pods.back().spec.uid, "pod-9");
  // Open rewrote the file compacted: one header and one record per pod.
  std::string data = ReadAll(path_);
  EXPECT_EQ(std::count(data.begin(), data.end(), '\n'), 21);
}

TEST_F(StateFileTest, ATornLastRecordIsDroppedAndTheRestTrusted) {
  Journal({MakePod("a", 1), MakePod("b", 2), MakePod("c", 3)});
  std::string data = ReadAll(path_);
  for (size_t cut : {1u, 5u, 40u}) {
    SCOPED_TRACE(cut);
    WriteAll(path_, data.substr(0, data.size() - cut));
    LoadedState loaded;
    std::unique_ptr<StateFile> file = OpenOk(&loaded);
    EXPECT_TRUE(loaded.trustworthy);
    EXPECT_THAT(loaded.problems, IsEmpty());
    ASSERT_EQ(loaded.warnings.size(), 1u);
    EXPECT_THAT(loaded.warnings[0], HasSubstr("record 4 at byte"));
    EXPECT_THAT(loaded.warnings[0], HasSubstr("incomplete"));
    EXPECT_THAT(Uids(loaded), ElementsAre("a", "b"));
    EXPECT_FALSE(fs::exists(path_ + ".damaged"));
  }
}

TEST_F(StateFileTest, AnAppendWhoseDataNeverReachedTheDiskIsTorn) {
  Journal({MakePod("a", 1), MakePod("b", 2)});
  WriteAll(path_, ReadAll(path_) + std::string(300, '\0'));
  LoadedState loaded = StateFile::Read(path_);
  EXPECT_TRUE(loaded.trustworthy);
  EXPECT_EQ(loaded.warnings.size(), 1u);
  EXPECT_THAT(Uids(loaded), ElementsAre("a", "b"));
}

TEST_F(StateFileTest, AFlippedByteInAMiddleRecordIsNotTrustworthy) {
  Journal({MakePod("a", 1), MakePod("b", 2), MakePod("c", 3)});
  std::string data = ReadAll(path_);
  // The second record after the header (b's): flip a byte inside its JSON.
  size_t second = data.find('\n', data.find('\n') + 1) + 1;
  size_t inside = data.find("pod-b", second);
  ASSERT_NE(inside, std::string::npos);
  data[inside] ^= 0x01;
  WriteAll(path_, data);

  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_TRUE(loaded.existed);
  EXPECT_FALSE(loaded.trustworthy);
  ASSERT_EQ(loaded.problems.size(), 1u);
  EXPECT_EQ(loaded.problems[0], absl::StrCat("record 3 at byte ", second, ": checksum mismatch"));
  EXPECT_THAT(Uids(loaded), ElementsAre("a", "c"));
  EXPECT_EQ(loaded.damaged_path, path_ + ".damaged");
  EXPECT_EQ(ReadAll(path_ + ".damaged"), data);
  // The fresh file holds what could be read and is trusted again.
  LoadedState fresh = StateFile::Read(path_);
  EXPECT_TRUE(fresh.trustworthy);
  EXPECT_THAT(Uids(fresh), ElementsAre("a", "c"));
}

TEST_F(StateFileTest, ADamagedFileReplacesAnOlderDamagedOne) {
  WriteAll(path_ + ".damaged", "old");
  WriteAll(path_, "garbage\n");
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_EQ(ReadAll(path_ + ".damaged"), "garbage\n");
}

TEST_F(StateFileTest, AnEmptyFileIsNoPodsWithAWarning) {
  WriteAll(path_, "");
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_TRUE(loaded.existed);
  EXPECT_TRUE(loaded.trustworthy);
  EXPECT_THAT(loaded.pods, IsEmpty());
  EXPECT_THAT(loaded.warnings, ElementsAre(HasSubstr("empty (0 bytes)")));
  EXPECT_FALSE(fs::exists(path_ + ".damaged"));
}

TEST_F(StateFileTest, GarbageIsNotTrustworthy) {
  std::string garbage;
  for (int i = 0; i < 5000; ++i) {
    garbage.push_back(static_cast<char>((i * 7919 + 13) % 256));
  }
  for (const std::string& data : {garbage, std::string("hello world\nthis is not it\n"),
                                  std::string("{\"magic\":1}\n"), std::string("x")}) {
    SCOPED_TRACE(data.substr(0, 20));
    WriteAll(path_, data);
    LoadedState loaded;
    std::unique_ptr<StateFile> file = OpenOk(&loaded);
    EXPECT_TRUE(loaded.existed);
    EXPECT_FALSE(loaded.trustworthy);
    EXPECT_THAT(loaded.problems, ::testing::Not(IsEmpty()));
    EXPECT_LE(loaded.problems.size(), 21u);
    EXPECT_THAT(loaded.pods, IsEmpty());
    EXPECT_TRUE(fs::exists(path_ + ".damaged"));
    EXPECT_TRUE(StateFile::Read(path_).trustworthy);
  }
}

TEST_F(StateFileTest, AValidRecordThatIsNotAStateFileIsRefused) {
  // Framed correctly, but no header.
  Journal({MakePod("a", 1)});
  std::string data = ReadAll(path_);
  WriteAll(path_, data.substr(data.find('\n') + 1));
  LoadedState loaded = StateFile::Read(path_);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems, ElementsAre(HasSubstr("not a probesnat state file")));
}

TEST_F(StateFileTest, AnUnreadableHeaderStillLetsTheRecordsBeRead) {
  Journal({MakePod("a", 1), MakePod("b", 2)});
  std::string data = ReadAll(path_);
  data[data.find("magic")] = 'M';
  WriteAll(path_, data);
  LoadedState loaded = StateFile::Read(path_);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems, ElementsAre("record 1 at byte 0: checksum mismatch"));
  EXPECT_THAT(Uids(loaded), ElementsAre("a", "b"));
}

TEST_F(StateFileTest, APathThatIsADirectoryIsMovedAside) {
  fs::create_directory(path_);
  WriteAll(path_ + "/inside", "x");
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_TRUE(loaded.existed);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems, ElementsAre("unreadable: Is a directory"));
  EXPECT_TRUE(fs::is_directory(path_ + ".damaged"));
  EXPECT_TRUE(fs::is_regular_file(path_));
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->Put(MakePod("a")).ok());
}

TEST_F(StateFileTest, ADirectoryThatCannotBeMovedAsideIsAnError) {
  fs::create_directory(path_);
  fs::create_directory(path_ + ".damaged");
  WriteAll(path_ + ".damaged/keep", "x");  // a non-empty directory is not replaced
  LoadedState loaded;
  absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(path_, &loaded);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr(path_));
  EXPECT_THAT(file.status().message(), HasSubstr(".damaged"));
  EXPECT_FALSE(loaded.trustworthy);
}

TEST_F(StateFileTest, AFifoAtThePathDoesNotBlock) {
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems, ElementsAre(HasSubstr("not a regular file")));
  EXPECT_TRUE(fs::is_regular_file(path_));
}

TEST_F(StateFileTest, AnotherVersionIsNotRead) {
  Journal({MakePod("a", 1)});
  std::string data = ReadAll(path_);
  std::string records = data.substr(data.find('\n') + 1);
  WriteAll(path_, FrameByHand("{\"magic\":\"probesnat-state\",\"version\":2}") + records);
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems,
              ElementsAre("record 1 at byte 0: format version 2, this agent reads version 1"));
  EXPECT_THAT(loaded.pods, IsEmpty());
  EXPECT_TRUE(fs::exists(path_ + ".damaged"));
}

TEST_F(StateFileTest, AHugeLengthIsRefusedWithoutReadingIt) {
  Journal({MakePod("a", 1)});
  std::string data = ReadAll(path_);
  // In the middle and at the end (no newline: it must not pass for a torn append).
  WriteAll(path_, data + "0badc0de 99999999999999 {}\n" + StateFile::EncodePut(MakePod("b", 2)));
  LoadedState loaded = StateFile::Read(path_);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems, ElementsAre(HasSubstr("record 3 at byte")));
  EXPECT_THAT(Uids(loaded), ElementsAre("a", "b"));

  WriteAll(path_, data + "0badc0de 9999999 {\"op\":");
  loaded = StateFile::Read(path_);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems, ElementsAre(HasSubstr("not a record")));
  EXPECT_THAT(Uids(loaded), ElementsAre("a"));
}

TEST_F(StateFileTest, BadJsonAndBadPodsAreNotTrustworthy) {
  const auto& frame = FrameByHand;
  std::string good = StateFile::EncodePut(MakePod("a", 1));
  std::string header;
  {
    Journal({});
    header = ReadAll(path_);
  }
  std::string pod_b = StateFile::EncodePut(MakePod("b", 2));
  std::string b_json = pod_b.substr(pod_b.find('{'), pod_b.size() - pod_b.find('{') - 1);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string j = b_json;
    size_t at = j.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return frame(j.replace(at, from.size(), to));
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {frame("{not json"), "not a JSON object"},
      {frame("[1,2]"), "not a JSON object"},
      {frame("{\"op\":\"dance\"}"), "unknown op"},
      {frame("{\"op\":\"erase\"}"), "no \"uid\""},
      {with("\"10.0.0.2\"", "\"10.0.0.256\""), "not an IP address"},
      {with("\"10.0.0.2\"", "\"10.0.0.2\",\"10.0.0.3\""), "different families"},
      {with("\"probe_ports\":[]", "\"probe_ports\":[0]"), "probe port"},
      {with("\"probe_ports\":[]", "\"probe_ports\":[70000]"), "probe port"},
      {with("\"generation\":1", "\"generation\":-1"), "generation"},
      {with("\"uid\":\"b\"", "\"uid\":\"\""), "empty"},
      {with("\"netns_path\":\"/run/netns/cni-b\"", "\"netns_path\":\"relative\""), "absolute"},
      {with("\"labels\":{}", "\"labels\":[]"), "labels"},
      {with("\"removing\":false", "\"removing\":0"), "removing"},
  };
  for (const auto& [record, expected] : cases) {
    SCOPED_TRACE(record);
    WriteAll(path_, absl::StrCat(header, good, record, pod_b));
    LoadedState loaded = StateFile::Read(path_);
    EXPECT_FALSE(loaded.trustworthy);
    EXPECT_THAT(loaded.problems, ElementsAre(HasSubstr(expected)));
    EXPECT_THAT(Uids(loaded), ElementsAre("a", "b"));
  }
}

TEST_F(StateFileTest, DeeplyNestedOrHugeJsonIsHandled) {
  Journal({MakePod("a", 1)});
  const std::string data = ReadAll(path_);
  const size_t depth = StateFile::kMaxRecordBytes / 2 - 16;
  for (const std::string& payload :
       {std::string(depth, '[') + std::string(depth, ']'),
        "{\"op\":\"" + std::string(StateFile::kMaxRecordBytes - 16, 'x') + "\"}"}) {
    WriteAll(path_, data + FrameByHand(payload) + StateFile::EncodePut(MakePod("b", 2)));
    LoadedState loaded = StateFile::Read(path_);
    EXPECT_FALSE(loaded.trustworthy);
    ASSERT_EQ(loaded.problems.size(), 1u);
    EXPECT_LT(loaded.problems[0].size(), 200u);
    EXPECT_THAT(Uids(loaded), ElementsAre("a", "b"));
  }
}

TEST_F(ManyPutsTest, ManyPutsOfTheSamePodsAreCompacted) {
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  std::vector<JournaledPod> pods;
  pods.reserve(10);
  for (int p = 0; p < 10; ++p) {
    pods.push_back(MakePod(absl::StrCat("pod-", p), p));
  }
  size_t largest = 0;
  for (int i = 0; i < 10000; ++i) {
    JournaledPod& pod = pods[i % pods.size()];
    pod.generation = i;
    ASSERT_TRUE(file->Put(pod).ok());
    largest = std::max(largest, file->file_bytes());
  }
  EXPECT_GT(file->compactions(), 10);
  EXPECT_LE(largest, 70u << 10);
  EXPECT_EQ(fs::file_size(path_), file->file_bytes());
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));
  LoadedState now = StateFile::Read(path_);
  EXPECT_TRUE(now.trustworthy);
  ASSERT_EQ(now.pods.size(), pods.size());
  for (size_t p = 0; p < pods.size(); ++p) {
    EXPECT_EQ(now.pods[p], pods[p]);
  }
}

TEST_F(ManyPutsTest, ErasesAreCompactedToo) {
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(file->Put(MakePod("p", i)).ok());
    ASSERT_TRUE(file->Erase("p").ok());
  }
  EXPECT_LE(file->file_bytes(), 70u << 10);
  EXPECT_THAT(StateFile::Read(path_).pods, IsEmpty());
}

TEST_F(StateFileTest, ConcurrentPutsAllLand) {
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&file, t] {
      for (int i = 0; i < kPerThread; ++i) {
        JournaledPod pod = MakePod(absl::StrCat("t", t, "-", i % 50), t * 256 + i % 50);
        pod.generation = i;
        EXPECT_TRUE(file->Put(pod).ok());
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  LoadedState now = StateFile::Read(path_);
  EXPECT_TRUE(now.trustworthy);
  EXPECT_THAT(now.problems, IsEmpty());
  ASSERT_EQ(now.pods.size(), static_cast<size_t>(kThreads * 50));
  for (const JournaledPod& pod : now.pods) {
    // The last put of each uid was in the last round of 50.
    EXPECT_GE(pod.generation, static_cast<uint64_t>(kPerThread - 50)) << pod.spec.uid;
  }
}

TEST_F(StateFileTest, AFileThatCannotBeCreatedIsAnErrorNamingIt) {
  std::string missing_dir = dir_ + "/no/such/dir/state";
  LoadedState loaded;
  absl::StatusOr<std::unique_ptr<StateFile>> file = StateFile::Open(missing_dir, &loaded);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr(missing_dir));
  EXPECT_THAT(file.status().message(), HasSubstr("No such file or directory"));
}

TEST_F(StateFileTest, AnOversizedFileIsNotReadWhole) {
  Journal({MakePod("a", 1)});
  std::string data = ReadAll(path_);
  ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(StateFile::kMaxFileBytes + 4096)), 0);
  LoadedState loaded = StateFile::Read(path_);
  EXPECT_FALSE(loaded.trustworthy);
  EXPECT_THAT(loaded.problems[0], HasSubstr("larger than the limit"));
  EXPECT_THAT(Uids(loaded), ElementsAre("a"));
}

TEST_F(StateFileTest, APodThatCouldNotBeReadBackIsRefused) {
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  JournaledPod no_ip = MakePod("a");
  no_ip.spec.ips.clear();
  JournaledPod relative = MakePod("b");
  relative.spec.netns_path = "netns/b";
  JournaledPod port_zero = MakePod("c");
  port_zero.spec.probe_ports = {0};
  for (const JournaledPod& pod : {no_ip, relative, port_zero}) {
    absl::Status st = file->Put(pod);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << pod.spec.uid;
    EXPECT_THAT(st.message(), HasSubstr("uid " + pod.spec.uid));
  }
  LoadedState now = StateFile::Read(path_);
  EXPECT_TRUE(now.trustworthy);
  EXPECT_THAT(now.pods, IsEmpty());
}

TEST_F(StateFileTest, AnOversizedPodIsRefused) {
  LoadedState loaded;
  std::unique_ptr<StateFile> file = OpenOk(&loaded);
  JournaledPod pod = MakePod("big");
  pod.spec.labels["big"] = std::string(StateFile::kMaxRecordBytes, 'x');
  absl::Status st = file->Put(pod);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(StateFile::Read(path_).pods, IsEmpty());
}

}  // namespace
}  // namespace probesnat::daemon
