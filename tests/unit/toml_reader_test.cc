// TableReader::Find (config/toml_reader.h): its mask of the keys a table
// sets answers "absent" without a lookup, and must never hide a key that
// is there. Checked against toml++'s own lookup, for every key of a table
// (keys whose bits collide among them) and for thousands that are not.
#include "config/toml_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hinetd::config {
namespace {

// Keys of every length from 0 to 40 over a small alphabet, so that many
// share a length and first and last characters (the mask's bit).
std::vector<std::string> ManyKeys() {
  std::vector<std::string> keys;
  const std::string letters = "abz_-09";
  for (size_t len = 0; len <= 40; ++len) {
    for (char first : letters) {
      for (char last : letters) {
        std::string k(len, 'm');
        if (len > 0) k.front() = first;
        if (len > 1) k.back() = last;
        keys.push_back(k);
        if (len <= 1) break;
      }
      if (len == 0) break;
    }
  }
  return keys;
}

TEST(TableReader, FindAgreesWithTheTableForKeysPresentAndAbsent) {
  std::vector<std::string> keys = ManyKeys();
  ASSERT_GT(keys.size(), 1000u);
  // Every seventh key is set: present keys collide with absent ones and with
  // each other on the mask's 64 bits.
  toml::table table;
  for (size_t i = 0; i < keys.size(); i += 7) table.insert(keys[i], static_cast<int64_t>(i));
  TableReader reader(table, "t.toml", "");
  size_t present = 0, absent = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const toml::node* want = table.get(keys[i]);
    const toml::node* got = reader.Find(keys[i]);
    EXPECT_EQ(got, want) << "key '" << keys[i] << "'";
    (want != nullptr ? present : absent) += 1;
  }
  EXPECT_EQ(present, (keys.size() + 6) / 7);
  EXPECT_GT(absent, present);
  // Lookup over a scope: the first reader that has the key, else nothing.
  toml::table defaults;
  defaults.insert(keys[1], int64_t{-1});
  defaults.insert(keys[0], int64_t{-2});
  TableReader fallback(defaults, "t.toml", "[defaults]");
  Found from_service = Lookup({&reader, &fallback}, keys[0]);
  ASSERT_TRUE(from_service);
  EXPECT_EQ(from_service.reader, &reader);
  EXPECT_EQ(from_service.key, keys[0]);
  Found from_defaults = Lookup({&reader, &fallback}, keys[1]);
  ASSERT_TRUE(from_defaults);
  EXPECT_EQ(from_defaults.reader, &fallback);
  EXPECT_FALSE(Lookup({&reader, &fallback}, keys[2]));
}

}  // namespace
}  // namespace hinetd::config
