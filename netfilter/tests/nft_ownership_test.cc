// The comment formats that say whom our kernel objects belong to (no privilege needed).
#include "netfilter/nft_ownership.h"

#include <libnftnl/udata.h>

#include <string>

#include "gtest/gtest.h"

namespace probesnat::netfilter {
namespace {

using namespace std::string_literals;

TEST(NftOwnershipTest, CommentsAreNftsTypeLengthValueWithATerminatingNul) {
  const std::string data = EncodeComment(NFTNL_UDATA_SET_ELEM_COMMENT, "uid-1");
  EXPECT_EQ(data, "\x00\x06uid-1\x00"s);
  EXPECT_EQ(DecodeComment(NFTNL_UDATA_SET_ELEM_COMMENT, data), "uid-1");
  EXPECT_EQ(EncodeComment(NFTNL_UDATA_TABLE_COMMENT, ""), "");
}

TEST(NftOwnershipTest, DecodingFindsTheCommentAmongOtherAttributes) {
  // A flags attribute (type 1) before the comment, as nft writes for open intervals.
  const std::string data = "\x01\x04\x01\x00\x00\x00"s + "\x00\x04"s + "abc\x00"s;
  EXPECT_EQ(DecodeComment(NFTNL_UDATA_SET_ELEM_COMMENT, data), "abc");
  EXPECT_EQ(DecodeComment(NFTNL_UDATA_SET_ELEM_COMMENT, "\x01\x04\x01\x00\x00\x00"s), "");
}

TEST(NftOwnershipTest, DataNotInNftsFormatDecodesToNoComment) {
  for (const std::string& data : {""s, "\x00"s, "\x00\x09short\x00"s,
                                  "\x00\x03"
                                  "abc"s,
                                  "\x00\x04"
                                  "a\x00"
                                  "b\x00"s,
                                  "garbage that is not TLV"s}) {
    SCOPED_TRACE(testing::PrintToString(data));
    EXPECT_EQ(DecodeComment(NFTNL_UDATA_SET_ELEM_COMMENT, data), "");
  }
}

TEST(NftOwnershipTest, PodTableCommentRoundTrips) {
  const TableOwner owner{"0d8f1c2e-5b7a-4e39-9a51-7c3f0e2b6d14", 18446744073709551615u};
  const std::string text = PodTableComment(owner);
  EXPECT_EQ(text,
            "probesnat pod 0d8f1c2e-5b7a-4e39-9a51-7c3f0e2b6d14 generation 18446744073709551615");
  EXPECT_LE(text.size(), kMaxCommentBytes);
  EXPECT_EQ(ParsePodTableComment(text), owner);
  EXPECT_EQ(ParsePodTableComment("probesnat pod u generation 0"), (TableOwner{"u", 0}));
}

TEST(NftOwnershipTest, OtherTableCommentsHaveNoOwner) {
  for (const char* text :
       {"", "hello", "probesnat pod", "probesnat pod  generation 1", "probesnat pod u generation",
        "probesnat pod u generation x", "probesnat pod u generation -1",
        "probesnat pod u v generation 1", "probesnat pod u generation 99999999999999999999",
        "Probesnat pod u generation 1"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ParsePodTableComment(text), std::nullopt);
  }
}

TEST(NftOwnershipTest, OwnerUidsMustFitInAComment) {
  EXPECT_TRUE(ValidateOwnerUid("").ok());
  EXPECT_TRUE(ValidateOwnerUid("0d8f1c2e-5b7a-4e39-9a51-7c3f0e2b6d14").ok());
  EXPECT_TRUE(ValidateOwnerUid(std::string(80, 'u')).ok());
  EXPECT_EQ(ValidateOwnerUid(std::string(200, 'u')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateOwnerUid("a b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateOwnerUid("a\0b"s).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace probesnat::netfilter
